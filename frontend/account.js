// The prosumer's account: opening one (created or imported here, kept encrypted in this browser,
// or a browser wallet), closing it, and registering it in the market.
import * as keys from "./keys.js";
import { BidStore } from "./market.js";
import { $, action, isOperator, refresh, say, state, transact } from "./shared.js";
import { capacityWh, kW, kWh } from "./units.js";
import { Refusal } from "./words.js";

const CARDS = ["account-open", "registration-card", "money-card", "bid-card", "results-card", "operator-card", "sister-card"];

export function showSavedAccounts() {
  const saved = keys.savedAccounts();
  $("unlock-saved").hidden = saved.length === 0;
  $("create-account").open = saved.length === 0;
  $("unlock-address").replaceChildren(...saved.map((address) => new Option(address, address)));
  $("injected-wallet").hidden = !keys.hasInjectedWallet();
}

const progressSay = (what) => (fraction) => say(`${what}… ${Math.round(fraction * 100)} %`);

async function openAccount(signer, injected = false) {
  const { market } = state;
  const address = await signer.getAddress();
  state.account = {
    address,
    signer,
    injected,
    market: market.contract.connect(signer),
    bids: new BidStore(market.chainId, market.address, address),
  };
  $("account-locked").hidden = true;
  $("account-open").hidden = false;
  $("my-address").textContent = address;
  $("backup-key").hidden = injected;
  await refresh();
  say(`Account ${address} is open.`, "ok");
}

function closeAccount() {
  state.account = state.record = null;
  for (const id of CARDS) $(id).hidden = true;
  $("account-locked").hidden = false;
  showSavedAccounts();
}

const localSigner = (wallet) => wallet.connect(state.market.provider);

export function wireAccount() {
  $("create-form").addEventListener(
    "submit",
    action(async () => {
      const password = $("create-password").value;
      if (password !== $("create-password-again").value) throw new Refusal("The two passwords differ.");
      const wallet = await keys.createAccount(password, progressSay("Encrypting your new key"));
      $("create-form").reset();
      await openAccount(localSigner(wallet));
    }),
  );
  $("unlock-form").addEventListener(
    "submit",
    action(async () => {
      const wallet = await keys.unlock($("unlock-address").value, $("unlock-password").value, progressSay("Decrypting your key"));
      $("unlock-form").reset();
      await openAccount(localSigner(wallet));
    }),
  );
  $("import-file").addEventListener("change", async () => {
    const [file] = $("import-file").files;
    if (file) $("import-secret").value = await file.text();
  });
  $("import-form").addEventListener(
    "submit",
    action(async () => {
      const secret = $("import-secret").value.trim();
      const password = $("import-password").value;
      const wallet = secret.startsWith("{")
        ? await keys.importKeystore(secret, password, progressSay("Opening the keystore"))
        : await keys.importPrivateKey(secret, password, progressSay("Encrypting the key"));
      $("import-form").reset();
      await openAccount(localSigner(wallet));
    }),
  );
  $("use-injected").addEventListener(
    "click",
    action(async () => {
      const signer = await keys.injectedSigner();
      const { chainId } = await signer.provider.getNetwork();
      if (chainId !== state.market.chainId) {
        throw new Refusal(`Your wallet is on chain ${chainId}; switch it to the market's chain ${state.market.chainId} first.`);
      }
      await openAccount(signer, true);
    }),
  );
  $("close-account").addEventListener("click", closeAccount);
  $("backup-key").addEventListener("click", () => {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([keys.keystoreOf(state.account.address)], { type: "application/json" }));
    link.download = `p2p-market-key-${state.account.address}.json`;
    link.click();
  });
  $("register-form").addEventListener(
    "submit",
    action(async () => {
      const name = $("register-name").value.trim();
      const bytes = new TextEncoder().encode(name).length;
      if (bytes === 0 || bytes > 31) throw new Refusal("Give a name of 1 to 31 characters.");
      const producer = document.querySelector('input[name="role"]:checked').value === "producer";
      const green = $("register-green").checked;
      await transact(`Registering ${name}`, () => state.account.market.register(name, producer, green));
    }),
  );
}

export const roleOf = (record) => `${record.green ? "green " : ""}${record.producer ? "producer" : "consumer"}`;

/** The registration card, and which of the other cards a registered account sees. */
export function showRegistration() {
  const { record } = state;
  const registered = record.id > 0n;
  // The operator runs the market and need not trade in it.
  $("registration-card").hidden = !registered && isOperator();
  $("register-form").hidden = registered;
  $("registration-status").hidden = !registered;
  for (const id of ["money-card", "bid-card", "results-card"]) $(id).hidden = !registered || record.isGrid;
  if (!registered) return;
  $("my-name").textContent = record.name;
  $("my-role").textContent = record.isGrid ? "public grid" : roleOf(record);
  $("my-id").textContent = record.id;
  const authorization = $("my-authorization");
  authorization.textContent = record.authorized
    ? "The operator has authorized you to trade."
    : "Waiting for the operator to authorize you to trade.";
  authorization.className = record.authorized ? "ok" : "warning";
  $("my-meter").textContent =
    record.meterNumber > 0n
      ? `Meter no. ${record.meterNumber} (account ${record.meter}), rated ${kW(record.ratedPowerW)} kW: ` +
        `at most ${kWh(capacityWh(record.ratedPowerW, state.market.clock.length))} kWh a period.`
      : "No meter bound yet: bidding needs one (ask the operator).";
  $("bid-quantity-label").textContent = record.producer ? "Energy to sell" : "Energy to buy";
  $("bid-price-label").textContent = record.producer ? "Lowest price" : "Highest price";
}

/** Refuses, in words, what only a registered account may do. */
export function requireRegistered() {
  if (!state.record || state.record.id === 0n) throw new Refusal("Register first.");
}
