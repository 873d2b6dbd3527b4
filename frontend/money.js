// The account's money: its ether for gas, its market wallet and what is locked in it (the margin
// of an open bid, sale proceeds until their period is settled), and deposits and withdrawals.
import { requireRegistered } from "./account.js";
import { $, action, state, transact } from "./shared.js";
import { ether, parseEther } from "./units.js";
import { Refusal } from "./words.js";

export function showMoney() {
  const { record, parameters, gasBalance } = state;
  $("my-gas").textContent = ether(gasBalance);
  $("gas-warning").hidden = gasBalance > 0n || state.account.injected;
  $("my-wallet").textContent = ether(record.wallet);
  $("my-margin").textContent = ether(record.wallet - record.freeBalance);
  $("margin-rule").textContent = `${ether(parameters.margin)} ether`;
  $("my-proceeds").textContent =
    record.lockedProceeds > 0n ? `, and ${ether(record.lockedProceeds)} ether of sales until their period is settled` : "";
  $("my-free").textContent = ether(record.freeBalance);
}

export function wireMoney() {
  $("deposit-form").addEventListener(
    "submit",
    action(async () => {
      requireRegistered();
      const amount = parseEther($("deposit-amount").value);
      if (amount === 0n) throw new Refusal("The amount must be above zero.");
      if (!state.account.injected && amount >= state.gasBalance) {
        throw new Refusal(`This account holds ${ether(state.gasBalance)} ether; keep some of it for gas.`);
      }
      await transact(`Depositing ${ether(amount)} ether`, () => state.account.market.deposit({ value: amount }));
      $("deposit-form").reset();
    }),
  );
  $("withdraw-form").addEventListener(
    "submit",
    action(async () => {
      requireRegistered();
      const amount = parseEther($("withdraw-amount").value);
      if (amount === 0n) throw new Refusal("The amount must be above zero.");
      if (amount > state.record.freeBalance) {
        throw new Refusal(
          `Only ${ether(state.record.freeBalance)} ether is free to withdraw; the margin of an open bid, and what a sale brought, stay locked until the period is settled.`,
        );
      }
      await transact(`Withdrawing ${ether(amount)} ether`, () => state.account.market.withdraw(amount));
      $("withdraw-form").reset();
    }),
  );
}
