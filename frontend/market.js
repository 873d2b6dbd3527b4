// The market contract as the page reaches it: the connection through the backend's /rpc proxy,
// sealed bids (their commitments, and the values this browser keeps until reveal) and the text a
// bidder signs to entrust a bid to the keeper.
import { ethers } from "ethers";
import { MarketClock } from "./clock.js";

export { ethers };

/**
 * A provider on one of the backend's JSON-RPC proxies. ethers shares identical requests made
 * within 250 ms by default; that sharing is off, because a nonce read again right after a send
 * the node refused for its nonce must be read fresh.
 */
export function nodeProvider(url) {
  return new ethers.JsonRpcProvider(url, undefined, { staticNetwork: true, pollingInterval: 1000, cacheTimeout: -1 });
}

/**
 * The market as the backend describes it (address, ABI, operator) and a provider that reaches
 * the chain through the backend's /rpc proxy, where only reads and raw transactions pass.
 * @returns {Promise<Market>}
 */
export async function connect() {
  const reply = await fetch("/api/contract");
  if (!reply.ok) throw new Error(`The server has no market to trade on (/api/contract answered ${reply.status}).`);
  const description = await reply.json();
  const provider = nodeProvider(new URL("/rpc", location.href).href);
  const contract = new ethers.Contract(description.address, description.abi, provider);
  const [schedule, operator, grid, network, latest] = await Promise.all([
    contract.schedule(),
    contract.operator(),
    contract.grid(),
    provider.getNetwork(),
    provider.getBlock("latest"),
  ]);
  const clock = new MarketClock(schedule);
  clock.synchronise(latest.timestamp);
  return { provider, contract, clock, operator, grid, chainId: network.chainId, address: description.address };
}

/**
 * The sealed bid sent at commit: keccak256(abi.encode(uint40 quantityWh, uint64 price, bytes32 salt,
 * address bidder)). Computed here, in the browser, so the bid
 * never leaves the browser before it is revealed.
 */
export function commitmentOf(quantityWh, price, salt, bidder) {
  const encoded = ethers.AbiCoder.defaultAbiCoder().encode(
    ["uint40", "uint64", "bytes32", "address"],
    [quantityWh, price, salt, bidder],
  );
  return ethers.keccak256(encoded);
}

export const newSalt = () => ethers.hexlify(ethers.randomBytes(32));

/**
 * The text a bidder signs to entrust a sealed bid to the market's keeper; the server rebuilds it
 * (entrust_message in p2pkit/bids.py) and accepts the bid only with the bidder's signature.
 */
export function entrustMessage(market, chainId, bidder, deliveryPeriod, quantityWh, price, salt) {
  return [
    "Entrust my sealed bid to the market's keeper, to be revealed for me.",
    `Market: ${ethers.getAddress(market)} (chain ${chainId})`,
    `Bidder: ${ethers.getAddress(bidder)}`,
    `Delivery period: ${deliveryPeriod}`,
    `Quantity: ${quantityWh} Wh`,
    `Price: ${price} wei/kWh`,
    `Salt: ${ethers.hexlify(salt)}`,
  ].join("\n");
}

/**
 * Bids this browser sealed, per market and bidder, by delivery period. The salt is the only way
 * to open a sealed bid: it is stored before the commit is sent, so a closed tab cannot lose it.
 */
export class BidStore {
  constructor(chainId, market, bidder, storage = globalThis.localStorage) {
    this.key = `p2p.bids.${chainId}.${market.toLowerCase()}.${bidder.toLowerCase()}`;
    this.storage = storage;
  }

  all() {
    return JSON.parse(this.storage.getItem(this.key) ?? "{}");
  }

  get(deliveryPeriod) {
    return this.all()[deliveryPeriod] ?? null;
  }

  put(deliveryPeriod, bid) {
    const bids = this.all();
    bids[deliveryPeriod] = { ...bids[deliveryPeriod], ...bid };
    this.storage.setItem(this.key, JSON.stringify(bids));
  }
}
