"""Terms of a bilateral contract, their EIP-712 typed data and the parties' signatures, and the
records the contract reports about a settled month.

Units as on chain: energy in Wh, prices in wei per kWh, deposits in wei, bands and the excess
factor in basis points. The defaults of the bands, the excess factor and the third party (the
market's grid) are those of the retail rules: 105 %, 95 %, 110 %.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import astuple, dataclass, fields
from enum import IntEnum

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from p2pkit.market import ZERO_ADDRESS

DOMAIN_NAME = "P2P energy bilateral contracts"
DOMAIN_VERSION = "1"

# Field names and types of the signed struct, in the order of IBilateralContracts.Terms.
TERMS_TYPE = [
    {"name": "buyer", "type": "address"},
    {"name": "seller", "type": "address"},
    {"name": "thirdParty", "type": "address"},
    {"name": "planId", "type": "uint32"},
    {"name": "firstMonth", "type": "uint32"},
    {"name": "months", "type": "uint8"},
    {"name": "monthlyWh", "type": "uint64"},
    {"name": "directPrice", "type": "uint64"},
    {"name": "cataloguePrice", "type": "uint64"},
    {"name": "penaltyRate", "type": "uint64"},
    {"name": "upperBandBps", "type": "uint16"},
    {"name": "lowerBandBps", "type": "uint16"},
    {"name": "excessFactorBps", "type": "uint16"},
    {"name": "buyerDeposit", "type": "uint128"},
    {"name": "sellerDeposit", "type": "uint128"},
    {"name": "nonce", "type": "uint256"},
]
DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


class ContractState(IntEnum):
    """IBilateralContracts.State."""

    NONE = 0
    PROPOSED = 1
    ACTIVE = 2
    COMPLETED = 3
    DEFAULTED = 4
    CANCELLED = 5


class TermField(IntEnum):
    """IBilateralContracts.TermField: what an InvalidTerms refusal is about."""

    PARTIES = 0
    THIRD_PARTY = 1
    MONTHLY_ENERGY = 2
    PRICES = 3
    BANDS = 4
    EXCESS_FACTOR = 5
    MONTHS = 6
    FIRST_MONTH = 7
    PLAN = 8


@dataclass(frozen=True)
class Terms:
    """What buyer and seller agree on; fields in the order of IBilateralContracts.Terms."""

    buyer: str
    seller: str
    third_party: str = ZERO_ADDRESS  # the market's grid
    plan_id: int = 0
    first_month: int = 0
    months: int = 1
    monthly_wh: int = 0
    direct_price: int = 0
    catalogue_price: int = 0
    penalty_rate: int = 0
    upper_band_bps: int = 10_500
    lower_band_bps: int = 9_500
    excess_factor_bps: int = 11_000
    buyer_deposit: int = 0
    seller_deposit: int = 0

    def as_abi(self) -> tuple:
        return astuple(self)

    @classmethod
    def of(cls, values) -> Terms:
        """From the contract's Terms tuple (a record's ``terms`` or an event's)."""
        if isinstance(values, Mapping):  # an event's struct, as web3 decodes it
            values = [values[entry["name"]] for entry in TERMS_TYPE[:-1]]
        return cls(*values)

    def message(self, nonce: int) -> dict:
        """The EIP-712 message: the fields under their Solidity names, then the nonce."""
        values = [*astuple(self), nonce]
        return {entry["name"]: value for entry, value in zip(TERMS_TYPE, values)}


def typed_data(terms: Terms, nonce: int, chain_id: int, verifying_contract: str) -> dict:
    """The full EIP-712 message a wallet signs (``eth_signTypedData_v4``)."""
    return {
        "types": {"EIP712Domain": DOMAIN_TYPE, "BilateralTerms": TERMS_TYPE},
        "primaryType": "BilateralTerms",
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": verifying_contract,
        },
        "message": terms.message(nonce),
    }


def sign_terms(private_key, terms: Terms, nonce: int, chain_id: int, verifying_contract: str) -> bytes:
    """A party's 65-byte signature (r, s, v) of the terms."""
    signed = Account.sign_typed_data(private_key, full_message=typed_data(terms, nonce, chain_id, verifying_contract))
    return bytes(signed.signature)


def terms_digest(terms: Terms, nonce: int, chain_id: int, verifying_contract: str) -> bytes:
    """The digest the contract recovers the signers from (its ``termsDigest``)."""
    signable = encode_typed_data(full_message=typed_data(terms, nonce, chain_id, verifying_contract))
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


@dataclass(frozen=True)
class Amounts:
    """What the three rules ask for one month, in wei (IBilateralContracts.Amounts)."""

    direct: int = 0
    penalty: int = 0
    excess_charge: int = 0
    compensation: int = 0

    @property
    def buyer_total(self) -> int:
        return self.direct + self.penalty + self.excess_charge


@dataclass(frozen=True)
class MonthResult:
    """One settled month (IBilateralContracts.MonthResult, the MonthSettled event's result)."""

    buyer_wh: int
    seller_wh: int
    buyer_metered: bool
    seller_metered: bool
    asked: Amounts
    buyer_to_seller: int
    buyer_to_third_party: int
    seller_to_third_party: int
    buyer_shortfall: int
    seller_shortfall: int

    @classmethod
    def of(cls, values) -> MonthResult:
        """From the event's struct: by name as web3 decodes it, or a tuple in the struct's order
        as Ape does."""
        if isinstance(values, Mapping):
            fields_ = {f.name: values[camel_case(f.name)] for f in fields(cls)}
            fields_["asked"] = Amounts(**{f.name: fields_["asked"][camel_case(f.name)] for f in fields(Amounts)})
            return cls(**fields_)
        values = list(values)
        values[4] = Amounts(*values[4])
        return cls(*values)


def camel_case(name: str) -> str:
    """A Python field's name as the Solidity struct has it (buyer_to_seller: buyerToSeller)."""
    first, *rest = name.split("_")
    return first + "".join(word.capitalize() for word in rest)
