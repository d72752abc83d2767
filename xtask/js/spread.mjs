//! How far a benchmark's figure moves with its samples' noise alone, shared by the render and CPU benchmarks.

/**
 * The 5th and 95th percentiles of `statistic(picks)` over 2,000 redrawn runs, each picking `count` sample
 * indices at random with replacement (by pair, where the samples are pairs): the spread one run's figure has
 * from noise alone.
 */
export function spread(count, statistic) {
  const drawn = Array.from({ length: 2000 }, () => statistic(Array.from({ length: count }, () => Math.floor(Math.random() * count)))).sort((a, b) => a - b);
  return [drawn[100], drawn[1899]];
}
