// The market's clock on the page: periods and phases from the contract's fixed schedule, as
// MarketClock.sol (and p2pkit.schedule in Python) computes them. Pure: no page, no network.

export const PHASES = ["Commit", "Reveal", "Matching", "Settlement"];
export const PHASE_WORDS = {
  Commit: "sealed bidding (commit)",
  Reveal: "opening of sealed bids (reveal)",
  Matching: "matching of the auction",
  Settlement: "settlement of the period that just ended",
};

/**
 * Periods and phases from the contract's schedule (its `schedule()` struct), on the page's clock
 * corrected by how far the chain's clock runs ahead of it (`skew`, seconds).
 */
export class MarketClock {
  constructor(schedule, { skew = 0, wallClock = () => Date.now() / 1000 } = {}) {
    this.genesis = Number(schedule.genesisTime);
    this.length = Number(schedule.periodLength);
    this.ends = {
      Commit: Number(schedule.commitEnd),
      Reveal: Number(schedule.revealEnd),
      Matching: Number(schedule.settleStart),
      Settlement: Number(schedule.periodLength),
    };
    this.skew = skew;
    this.wallClock = wallClock;
  }

  /** A chain whose blocks are stamped ahead of this computer's time sets the pace. */
  synchronise(latestBlockTime) {
    this.skew = Math.max(0, latestBlockTime - this.wallClock());
  }

  now() {
    return this.wallClock() + this.skew;
  }

  periodStart(period) {
    return this.genesis + period * this.length;
  }

  /** {period, phase, offset, secondsLeft, phaseStart, phaseEnd} at `time` (seconds). */
  at(time = this.now()) {
    const period = time < this.genesis ? 0 : Math.floor((time - this.genesis) / this.length);
    const offset = Math.max(0, time - this.periodStart(period));
    const phase = PHASES.find((name) => offset < this.ends[name]) ?? "Settlement";
    const index = PHASES.indexOf(phase);
    const phaseStart = index === 0 ? 0 : this.ends[PHASES[index - 1]];
    return { period, phase, offset, phaseStart, phaseEnd: this.ends[phase], secondsLeft: this.ends[phase] - offset };
  }

  /** Seconds until the next commit window opens (0 while one is open). */
  secondsToCommit(time = this.now()) {
    const { period, phase } = this.at(time);
    return phase === "Commit" ? 0 : this.periodStart(period + 1) - time;
  }
}

/** Seconds as m:ss, rounded up (a countdown never shows 0:00 before its end). */
export function duration(seconds) {
  const whole = Math.max(0, Math.ceil(seconds));
  const minutes = Math.floor(whole / 60);
  return `${minutes}:${String(whole % 60).padStart(2, "0")}`;
}

export function timeOfDay(unixSeconds) {
  return new Date(unixSeconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}
