'use strict';

// What every round of the market's benchmark shares (bench/caliper/plan.py writes what it reads).
// A round's file lists this worker's calls in sending order, each with its sender: the worker
// signs each with that prosumer's (or meter's) key, which the untimed preparation put in the
// connector's wallet, counting the sender's nonces itself. The preparation also waits for the
// chain time the round starts at (on anvil, worker 0 moves the clock there first).

const fs = require('fs');
const { WorkloadModuleBase } = require('@hyperledger/caliper-core');

const CONTRACT = 'market';
// Key files already in this worker's wallet: the connector's web3 lives as long as the worker.
const keyFilesLoaded = new Set();

function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

class MarketWorkload extends WorkloadModuleBase {
    async initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter, sutContext) {
        await super.initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter, sutContext);
        const plan = JSON.parse(fs.readFileSync(roundArguments.plan, 'utf8'));
        this.web3 = sutAdapter.web3;
        this.loadKeys(roundArguments.keys);
        await this.reachChainTime(plan.startsAt, plan.jumpClock);
        this.calls = plan.workers[workerIndex];
        await this.prepare(plan);
        const senders = [...new Set(this.calls.filter((c) => !c.readOnly).map((c) => c.from))];
        const counts = await Promise.all(senders.map((a) => this.web3.eth.getTransactionCount(a, 'pending')));
        this.nonces = Object.fromEntries(senders.map((a, i) => [a, Number(counts[i])]));
        this.next = 0;
    }

    loadKeys(path) {
        if (keyFilesLoaded.has(path)) {
            return;
        }
        for (const key of JSON.parse(fs.readFileSync(path, 'utf8')).workers[this.workerIndex]) {
            this.web3.eth.accounts.wallet.add(key);
        }
        keyFilesLoaded.add(path);
    }

    rpc(method, params) {
        return new Promise((resolve, reject) => {
            this.web3.currentProvider.send({ jsonrpc: '2.0', id: Date.now(), method, params }, (error, answer) => {
                if (error || answer.error) {
                    reject(error || new Error(`${method}: ${answer.error.message}`));
                } else {
                    resolve(answer.result);
                }
            });
        });
    }

    async latestTime() {
        return Number((await this.web3.eth.getBlock('latest')).timestamp);
    }

    async reachChainTime(timestamp, jumpClock) {
        if (jumpClock && this.workerIndex === 0) {
            const gap = timestamp - (await this.latestTime());
            if (gap > 0) {
                await this.rpc('evm_increaseTime', [gap]);
            }
        }
        while ((await this.latestTime()) < timestamp) {
            await sleep(100);
        }
    }

    // What a round does before it is timed, besides the above (commit and reveal: the anchors).
    async prepare(plan) {}

    // Raw transactions signed by plan.py, sent and included; their receipts.
    sendRaw(raws) {
        return Promise.all(raws.map((raw) => this.web3.eth.sendSignedTransaction(raw)));
    }

    argumentsOf(call) {
        return call.args;
    }

    async submitTransaction() {
        const call = this.calls[this.next % this.calls.length];
        this.next += 1;
        // The connector reads the sender and its nonce from its context as a request starts.
        const context = this.sutAdapter.context;
        context.fromAddress = call.from;
        if (!call.readOnly) {
            context.nonces[call.from] = this.nonces[call.from];
            this.nonces[call.from] += 1;
        }
        return this.sutAdapter.sendRequests({
            contract: CONTRACT,
            verb: call.verb,
            args: this.argumentsOf(call),
            value: call.value,
            readOnly: Boolean(call.readOnly),
        });
    }
}

module.exports = { MarketWorkload };
