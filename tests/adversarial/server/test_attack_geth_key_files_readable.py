"""Every key file the project writes: the Geth nodes' private node keys were
created world-readable (the chain folder's password and keystores only made private after being
written). Each is now created 0600."""

import stat

import pytest

from devnet.geth import GETH_VERSION, ChainFolder, GethUnavailable, geth_binary


@pytest.fixture
def geth():
    try:
        return geth_binary()
    except GethUnavailable as error:
        pytest.skip(f"Geth {GETH_VERSION} is not installed and cannot be installed here: {error}")


def test_node_keys_are_created_readable_by_their_owner_only(tmp_path, geth, usual_umask):
    folder = ChainFolder(tmp_path / "chain")

    folder.initialise(geth, nodes=2)

    node_keys = [folder.node_dir(index) / "geth" / "nodekey" for index in (1, 2)]
    assert [oct(stat.S_IMODE(key.stat().st_mode)) for key in node_keys] == [oct(0o600)] * 2
