// The prosumer's key. It never leaves the browser: it is kept in localStorage only as an
// encrypted keystore (scrypt, the format of Ethereum wallets) and decrypted with the password
// for as long as the page is open. A wallet extension (window.ethereum) can sign instead.
import { ethers } from "ethers";

const KEYSTORES = "p2p.keystores";

function keystores() {
  return JSON.parse(localStorage.getItem(KEYSTORES) ?? "{}");
}

function keep(address, keystoreJson) {
  localStorage.setItem(KEYSTORES, JSON.stringify({ ...keystores(), [address]: keystoreJson }));
}

/** Addresses of the accounts kept in this browser. */
export function savedAccounts() {
  return Object.keys(keystores());
}

function checkPassword(password) {
  if (!password || password.length < 8) throw new Error("Choose a password of at least 8 characters.");
}

/** A new random key, kept encrypted with `password`. `progress(fraction)` follows the encryption. */
export async function createAccount(password, progress) {
  checkPassword(password);
  const wallet = new ethers.Wallet(ethers.Wallet.createRandom().privateKey);
  keep(wallet.address, await wallet.encrypt(password, progress));
  return wallet;
}

/** An existing private key (hex), kept encrypted with `password`. */
export async function importPrivateKey(privateKey, password, progress) {
  checkPassword(password);
  let wallet;
  try {
    wallet = new ethers.Wallet(privateKey.trim().startsWith("0x") ? privateKey.trim() : `0x${privateKey.trim()}`);
  } catch {
    throw new Error("That is not a private key (64 hexadecimal digits).");
  }
  keep(wallet.address, await wallet.encrypt(password, progress));
  return wallet;
}

/** A keystore file (JSON) as other wallets export it, opened with its own password. */
export async function importKeystore(json, password, progress) {
  if (!ethers.isKeystoreJson(json)) throw new Error("That is not a keystore file.");
  const wallet = await decrypt(json, password, progress);
  keep(wallet.address, json);
  return new ethers.Wallet(wallet.privateKey);
}

/** Open the account kept for `address`. */
export async function unlock(address, password, progress) {
  const json = keystores()[address];
  if (!json) throw new Error(`No key for ${address} is kept in this browser.`);
  return new ethers.Wallet((await decrypt(json, password, progress)).privateKey);
}

async function decrypt(json, password, progress) {
  try {
    return await ethers.Wallet.fromEncryptedJson(json, password, progress);
  } catch (error) {
    if (error?.code === "INVALID_ARGUMENT" && /password/i.test(error.message)) throw new Error("Wrong password.");
    throw error;
  }
}

/** The keystore of `address`, to save as a backup file. */
export function keystoreOf(address) {
  return keystores()[address];
}

/** The account selected in the browser's wallet extension, if there is one. */
export async function injectedSigner() {
  if (!window.ethereum) throw new Error("No wallet extension found in this browser.");
  return new ethers.BrowserProvider(window.ethereum).getSigner();
}

export const hasInjectedWallet = () => Boolean(window.ethereum);
