from runtime.ws.server import main

main()
