// The sister chains: the account's tokens (the trading chain, the market's) and energy rights
// (the scheduling chain), the convert form in both directions, and each transfer's progress:
// locked, confirmations n / 6, unlocked. The lock transaction is signed here, like a bid; the
// relayer proves it on the other chain. Shown only when the backend serves the sister chains
// (/api/sister).
import { ethers } from "ethers";
import { checkConversion, DIRECTIONS, progressText } from "./conversion.js";
import { nodeProvider } from "./market.js";
import { $, action, getJson, say, state, transact } from "./shared.js";
import { ether, shortAddress } from "./units.js";
import { Refusal } from "./words.js";

const LOCK_ABI = [
  "function lock(uint256 amount, address recipient) returns (bytes32)",
  "function balanceOf(address account) view returns (uint256)",
];

/**
 * The sister chains as `loadSister` finds them; null when the backend serves none.
 * @typedef {Object} SisterChains
 * @property {Object<string, {chain_id: number, lock: string, rate: string[], confirmations: number, provider: object}>} chains
 * @property {{balances: Object<string, bigint>, gas: Object<string, bigint>, transfers: object[]}|null} wallet
 */

/** @type {SisterChains|null} */
let sister = null;

/** Asks the backend for the sister chains; hides the card when there are none. */
export async function loadSister() {
  let overview;
  try {
    overview = await getJson("/api/sister");
  } catch {
    sister = null;
    return;
  }
  const chains = {};
  for (const [name, chain] of Object.entries(overview)) {
    const provider =
      name === "trading"
        ? state.market.provider
        : nodeProvider(new URL(chain.rpc, location.href).href);
    chains[name] = { ...chain, provider };
  }
  sister = { chains, wallet: null };
}

/** Redraws the card from /api/sister/accounts/<address>. */
export async function showSister() {
  $("sister-card").hidden = sister === null;
  if (sister === null || !state.account) return;
  const answer = await getJson(`/api/sister/accounts/${state.account.address}`);
  const pick = (field) => Object.fromEntries(Object.entries(answer.balances).map(([n, b]) => [n, BigInt(b[field])]));
  sister.wallet = { balances: pick("balance"), gas: pick("ether"), transfers: answer.transfers };
  $("my-tokens").textContent = sister.wallet.balances.trading;
  $("my-rights").textContent = sister.wallet.balances.scheduling;
  $("my-scheduling-gas").textContent = ether(sister.wallet.gas.scheduling);
  const rows = answer.transfers.map((transfer) => {
    const row = document.createElement("tr");
    row.dataset.lockId = transfer.lock_id;
    row.dataset.state = transfer.state;
    const cells = [
      `${transfer.from} → ${transfer.to}`,
      transfer.amount,
      shortAddress(transfer.recipient),
      progressText(transfer),
    ];
    row.append(...cells.map((text) => Object.assign(document.createElement("td"), { textContent: text })));
    return row;
  });
  $("transfers-body").replaceChildren(...rows);
  $("transfers-none").hidden = rows.length > 0;
  $("sister-note").textContent = "";
}

function signerOn(chain) {
  if (chain === "trading") return state.account.signer;
  if (state.account.injected) {
    throw new Refusal("A browser wallet signs on the trading chain only; open a key kept in this page to convert rights.");
  }
  return state.account.signer.connect(sister.chains[chain].provider);
}

export function wireSister() {
  $("convert-form").addEventListener(
    "submit",
    action(async () => {
      if (!sister?.wallet) throw new Refusal("The sister chains are not loaded yet; wait a moment.");
      const direction = $("convert-direction").value;
      const rates = Object.fromEntries(Object.entries(sister.chains).map(([n, c]) => [n, c.rate]));
      const conversion = checkConversion(direction, $("convert-amount").value, { ...sister.wallet, rates });
      const lock = new ethers.Contract(sister.chains[conversion.source].lock, LOCK_ABI, signerOn(conversion.source));
      const words = `Locking ${conversion.amount} ${conversion.gives} for ${conversion.released} ${conversion.gets}`;
      const gas = sister.wallet.gas[conversion.source];
      await transact(words, () => lock.lock(conversion.amount, state.account.address), gas);
      $("convert-form").reset();
      say(`${words}: locked; the relayer unlocks it after ${sister.chains[conversion.destination].confirmations} confirmations.`, "ok");
    }),
  );
  $("convert-direction").replaceChildren(
    ...Object.entries(DIRECTIONS).map(([name, d]) => new Option(`${d.gives} → ${d.gets}`, name)),
  );
}
