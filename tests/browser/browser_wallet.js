// A browser wallet as an extension injects it (EIP-1193 `window.ethereum`), holding one key:
// it answers for its account, signs transactions and messages itself, and passes every other
// request to the market's /rpc. Wallet extensions cannot be installed in this headless
// Chromium; the page cannot tell this one from them. The key is put in by the test.
(() => {
  const PRIVATE_KEY = "__PRIVATE_KEY__";
  let nextId = 1;
  const node = async (method, params) => {
    const reply = await fetch("/rpc", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params }),
    });
    const answer = await reply.json();
    if (answer.error) throw Object.assign(new Error(answer.error.message), answer.error);
    return answer.result;
  };
  let wallet; // made at the first request: this script also runs in documents without the page
  const open = () =>
    (wallet ??= import(`${location.origin}/vendor/ethers.min.js`).then(({ ethers }) => ({
      ethers,
      signer: new ethers.Wallet(PRIVATE_KEY, new ethers.JsonRpcProvider(`${location.origin}/rpc`)),
    })));

  window.ethereum = {
    async request({ method, params = [] }) {
      const { ethers, signer } = await open();
      switch (method) {
        case "eth_requestAccounts":
        case "eth_accounts":
          return [signer.address];
        case "personal_sign":
          return signer.signMessage(ethers.getBytes(params[0]));
        case "eth_sendTransaction": {
          const { to, data, value, gas } = params[0];
          const sent = await signer.sendTransaction({ to, data, value: value ?? 0, gasLimit: gas });
          return sent.hash;
        }
        default:
          return node(method, params);
      }
    },
    on() {},
    removeListener() {},
  };
})();
