'use strict';

// Round: each prosumer's meter posts its reading of the delivery period.

const { MarketWorkload } = require('./market.js');

module.exports.createWorkloadModule = () => new MarketWorkload();
