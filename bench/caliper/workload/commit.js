'use strict';

// Round: each prosumer commits its sealed bid. Before it is timed, the worker's band anchors
// commit theirs (bench/market_txs.py explains the bands).

const { MarketWorkload } = require('./market.js');

class CommitWorkload extends MarketWorkload {
    async prepare(plan) {
        await this.sendRaw(plan.anchors[this.workerIndex]);
    }
}

module.exports.createWorkloadModule = () => new CommitWorkload();
