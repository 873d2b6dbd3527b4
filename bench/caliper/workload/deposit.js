'use strict';

// Round: a deposit into the worker's own wallet in the market.

const { MarketWorkload } = require('./market.js');

module.exports.createWorkloadModule = () => new MarketWorkload();
