// What the page says when something goes wrong: its own refusals as they are, the contract's
// custom errors decoded from the revert data wherever ethers keeps it, and failures of the
// wallet or the connection.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { ethers } from "ethers";

import { ERROR_WORDS, explain, Refusal, sendWithFreshNonce, staleNonce } from "../../frontend/words.js";

const ABI = JSON.parse(readFileSync(new URL("../../p2pkit/artifacts/EnergyMarket.json", import.meta.url))).abi;
const market = new ethers.Interface(ABI);
const BOOK_ABI = JSON.parse(readFileSync(new URL("../../p2pkit/artifacts/ContinuousBook.json", import.meta.url))).abi;
const book = new ethers.Interface(BOOK_ABI);
const ALREADY_BOUND = market.encodeErrorResult("MeterAlreadyBound", ["0x" + "11".repeat(20), 2]);

test("the page's own refusal is shown as it is", () => {
  assert.equal(explain(new Refusal("Register first.")), "Register first.");
});

test("a custom error in a JSON-RPC error's data is put in words", () => {
  const error = { code: "CALL_EXCEPTION", info: { error: { code: 3, data: ALREADY_BOUND } } };
  assert.equal(explain(error, market), "Refused by the market: That meter is already bound to prosumer #2.");
});

test("a custom error straight in the error's data is put in words too", () => {
  assert.equal(explain({ data: ALREADY_BOUND }, market), "Refused by the market: That meter is already bound to prosumer #2.");
});

test("every custom error the contract declares has words", () => {
  const declared = ABI.filter((entry) => entry.type === "error").map((entry) => entry.name);
  assert.deepEqual(declared.filter((name) => !(name in ERROR_WORDS)), []);
});

test("a cancelled signature says so", () => {
  assert.equal(explain({ code: "ACTION_REJECTED" }), "You cancelled the transaction in your wallet.");
});

test("a server that cannot be reached says nothing was sent", () => {
  for (const code of ["NETWORK_ERROR", "SERVER_ERROR", "TIMEOUT"]) {
    assert.match(explain({ code }), /cannot be reached right now; nothing was sent/);
  }
});

test("a transaction mined but reverted is told apart from a refusal before sending", () => {
  assert.match(explain({ code: "CALL_EXCEPTION", receipt: { status: 0 } }), /mined but refused/);
});

test("an answer of the node's that ethers cannot name is shown in the node's words", () => {
  const error = { code: "UNKNOWN_ERROR", shortMessage: "could not coalesce error", error: { code: -32005, message: "busy" } };
  assert.equal(explain(error), "The market's chain answered: busy");
});

test("every custom error the continuous book declares has words", () => {
  const declared = BOOK_ABI.filter((entry) => entry.type === "error").map((entry) => entry.name);
  assert.deepEqual(declared.filter((name) => !(name in ERROR_WORDS)), []);
});

test("a continuous book's custom error is decoded with the book's interface among others", () => {
  const error = { data: book.encodeErrorResult("NoRestingOrder", [7, 3]) };
  assert.equal(
    explain(error, [market, book]),
    "Refused by the market: You have no order resting in the book of delivery period 7.",
  );
});

test("a nonce the keeper took first is told apart from other refusals", () => {
  const taken = { code: "UNKNOWN_ERROR", error: { message: "Invalid transaction nonce: Expected 7, but got 6" } };
  assert.equal(staleNonce(taken), true);
  assert.equal(staleNonce({ code: "NONCE_EXPIRED" }), true);
  assert.equal(staleNonce({ code: "UNKNOWN_ERROR", error: { message: "busy" } }), false);
  assert.equal(staleNonce({ code: "CALL_EXCEPTION" }), false);
});

/** A send refused for a taken nonce `refusals` times, then sent; counts its calls. */
function sendTakenFirst(refusals) {
  const send = async () => {
    send.calls += 1;
    if (send.calls <= refusals) {
      throw { code: "UNKNOWN_ERROR", error: { message: "Invalid transaction nonce: Expected 9, but got 8" } };
    }
    return "sent";
  };
  send.calls = 0;
  return send;
}

test("a transaction whose nonce the keeper took is signed again until it is sent", async () => {
  const send = sendTakenFirst(3);
  assert.equal(await sendWithFreshNonce(send), "sent");
  assert.equal(send.calls, 4);
});

test("a nonce taken again and again is given up after three retries", async () => {
  const send = sendTakenFirst(4);
  await assert.rejects(sendWithFreshNonce(send), (error) => staleNonce(error));
  assert.equal(send.calls, 4);
});

test("a refusal other than a taken nonce is not sent again", async () => {
  let calls = 0;
  const refused = async () => {
    calls += 1;
    throw { code: "CALL_EXCEPTION" };
  };
  await assert.rejects(sendWithFreshNonce(refused), { code: "CALL_EXCEPTION" });
  assert.equal(calls, 1);
});

test("every custom error the storage stations' dispatch declares has words", () => {
  const abi = JSON.parse(readFileSync(new URL("../../p2pkit/artifacts/StationDispatch.json", import.meta.url))).abi;
  const declared = abi.filter((entry) => entry.type === "error").map((entry) => entry.name);
  assert.deepEqual(declared.filter((name) => !(name in ERROR_WORDS)), []);
});

test("no station available is said with the direction and the lines the user has", () => {
  const dispatch = new ethers.Interface(
    JSON.parse(readFileSync(new URL("../../p2pkit/artifacts/StationDispatch.json", import.meta.url))).abi,
  );
  const data = dispatch.encodeErrorResult("NoStationAvailable", ["0x" + "22".repeat(20), 1, 2]);
  assert.equal(
    explain({ data }, [market, dispatch]),
    "Refused by the market: None of the 2 stations you have a line to can take in energy now; try again later.",
  );
});
