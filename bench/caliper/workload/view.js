'use strict';

// Round: a view call: accountOf(the worker's own account), answered by the node without a transaction.

const { MarketWorkload } = require('./market.js');

module.exports.createWorkloadModule = () => new MarketWorkload();
