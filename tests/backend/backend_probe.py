"""The probe contract the backend tests deploy, assembled by hand so they need no compiler.

Called without data it emits Ping() with the word 42; called with any data it reverts with the
four bytes 0xdeadbeef, the shape of a Solidity custom error.
"""

from web3 import Web3

PING_TOPIC = Web3.keccak(text="Ping()").to_0x_hex()
PROBE_REVERT_DATA = "0xdeadbeef"
PROBE_RUNTIME = (
    "0x36603057"  # if calldata is not empty, jump to the revert at 0x30
    "602a600052"  # memory[0:32] = 42
    "7f" + PING_TOPIC[2:] + "60206000a1"  # log1(memory[0:32], Ping())
    "00"  # stop
    "5b63deadbeef6000526004601cfd"  # revert(0xdeadbeef)
)
PROBE_INIT = "0x603e80600b6000396000f3" + PROBE_RUNTIME[2:]  # copy the 62-byte runtime and return it
