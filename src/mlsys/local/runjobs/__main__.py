from mlsys.local.runjobs.api import main

main()
