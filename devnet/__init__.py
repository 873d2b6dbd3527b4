"""Local chains for development and tests: anvil (``devnet.nodes``), the Geth proof-of-work
private network (``devnet.geth``) and the embedded eth-tester chain (``devnet.embedded``).

None of it runs in the field: the meter box and a server on a real node never import it.
"""
