from mlsys.cli import main

main()
