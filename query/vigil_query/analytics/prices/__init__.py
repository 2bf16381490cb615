"""The price book (book.py: prices, which one holds, the cost SQL), its table (store.py), and
its RPCs' messages (rpc.py)."""
