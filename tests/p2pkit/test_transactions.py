"""Refusals decoded by name from the real bytes the chain reverts with (no printed bytes are
parsed), and a call's refusal sends nothing."""

from __future__ import annotations

import pytest
from eth_account import Account
from web3.exceptions import ContractCustomError

from p2pkit.transactions import ContractRefused, decode_error, refusal_of, revert_data, send


def test_refusal_on_the_embedded_chain_is_decoded_with_its_arguments(market):
    stranger = Account.create()

    with pytest.raises(ContractRefused) as refused:
        send(market.w3, market.contract.functions.setAuthorization(stranger.address, True), market.operator)
    assert (refused.value.name, refused.value.arguments) == ("NotRegistered", (stranger.address.lower(),))


def test_revert_data_of_a_node_is_the_errors_data():
    error = ContractCustomError("0xdeadbeef", data="0xdeadbeef00")

    assert revert_data(error) == bytes.fromhex("deadbeef00")


def test_revert_data_is_found_inside_the_exception_chain():
    class Revert(Exception):
        pass

    try:
        try:
            raise Revert(b"\x01\x02\x03\x04")
        except Revert as inner:
            raise RuntimeError("execution reverted: b'\\x01\\x02\\x03\\x04'") from inner
    except RuntimeError as outer:
        assert revert_data(outer) == b"\x01\x02\x03\x04"


def test_an_error_without_revert_data_is_no_refusal():
    assert refusal_of(ConnectionError("node down")) is None


def test_revert_data_of_an_undeclared_error_is_a_plain_revert():
    refused = refusal_of(ContractCustomError("0x12345678", data="0x12345678"))

    assert (refused.name, refused.arguments) == ("Reverted", ("0x12345678",))


def test_decoding_an_unknown_selector_says_which():
    with pytest.raises(ValueError, match="0x12345678"):
        decode_error("0x12345678")
