"""Media of messages: where their bytes are kept (store.py) and the background fetch of a
customer's files from Meta (fetcher.py). Sending media goes through runtime/outbound."""
