"""The keeper's database, which holds the salts of entrusted bids, was created
world-readable (0644): anyone on the machine could open every entrusted bid before its reveal."""

import stat

from backend import create_app


def test_keeper_database_is_created_readable_by_its_owner_only(market, tmp_path, usual_umask):
    database = tmp_path / "keeper.sqlite3"

    create_app({"TESTING": True, "KEEPER": False, "KEEPER_DB": str(database)}, market=market)

    assert stat.S_IMODE(database.stat().st_mode) == 0o600
