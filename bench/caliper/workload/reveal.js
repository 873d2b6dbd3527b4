'use strict';

// Round: each prosumer reveals its bid, hinting at its band's anchor. Before it is timed, the
// worker's anchors reveal theirs, and their bid ids are read from the receipts.

const { MarketWorkload } = require('./market.js');

class RevealWorkload extends MarketWorkload {
    async prepare(plan) {
        const revealed = this.web3.utils.keccak256('BidRevealed(uint32,address,uint32,uint40,uint64)');
        const receipts = await this.sendRaw(plan.anchors[this.workerIndex]);
        this.anchorIds = {};
        receipts.forEach((receipt, i) => {
            const log = receipt.logs.find((entry) => entry.topics[0] === revealed);
            // BidRevealed's data: bidId, quantityWh, price, one word each.
            this.anchorIds[plan.anchorQueues[this.workerIndex][i]] = parseInt(log.data.slice(2, 66), 16);
        });
    }

    argumentsOf(call) {
        const [quantityWh, price, salt] = call.args;
        return [quantityWh, price, salt, this.anchorIds[call.anchor]];
    }
}

module.exports.createWorkloadModule = () => new RevealWorkload();
