from mlsys.local.proxy.server import main

main()
