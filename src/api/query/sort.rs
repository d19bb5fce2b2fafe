//! `_sort`/`_order`: lodash `orderBy` semantics (its `compareAscending`, which puts `null`
//! after every other defined value and `undefined` last, and compares the rest with
//! JavaScript's loose `<`/`>`), run through the same sorting algorithm as V8's
//! `Array.prototype.sort` (TimSort: runs, binary insertion, merges).
//!
//! The algorithm matters because JavaScript's comparisons are not a total order across types
//! (`"abc"` is neither below nor above `5`): with such a comparator the result depends on the
//! order the comparisons are made. Up to 64 records this is exactly V8's sequence of
//! comparisons; above, the merges skip V8's galloping, which gives the same result whenever
//! the comparisons are consistent. Rust's own `sort_by` is not used: it may panic on an
//! inconsistent comparator.

use std::cmp::Ordering;

use super::js::{Js, loose_lt, strict_eq};

/// lodash's `compareAscending` for JSON values (never NaN, never symbols).
pub fn compare_ascending(value: &Js, other: &Js) -> Ordering {
    if strict_eq(value, other) {
        return Ordering::Equal;
    }
    let val_defined = !matches!(value, Js::Undefined);
    let val_null = matches!(value, Js::Null);
    let oth_defined = !matches!(other, Js::Undefined);
    let oth_null = matches!(other, Js::Null);
    if (!oth_null && loose_lt(other, value) == Some(true))
        || (val_null && oth_defined)
        || !val_defined
    {
        return Ordering::Greater;
    }
    if (!val_null && loose_lt(value, other) == Some(true))
        || (oth_null && val_defined)
        || !oth_defined
    {
        return Ordering::Less;
    }
    Ordering::Equal
}

/// lodash's `compareMultiple`: criteria in turn, `desc` flips, the original index breaks ties.
pub fn compare_multiple(a: (&[Js], usize), b: (&[Js], usize), desc: &[bool]) -> Ordering {
    for (i, (x, y)) in a.0.iter().zip(b.0).enumerate() {
        let ord = compare_ascending(x, y);
        if ord != Ordering::Equal {
            return if desc.get(i).copied().unwrap_or(false) {
                ord.reverse()
            } else {
                ord
            };
        }
    }
    a.1.cmp(&b.1)
}

/// Sorts `v` in place the way V8 does with this comparator (see the module note).
pub fn v8_sort<T>(v: &mut [T], cmp: &mut impl FnMut(&T, &T) -> Ordering) {
    let n = v.len();
    if n < 2 {
        return;
    }
    let min_run = min_run_length(n);
    let mut runs: Vec<(usize, usize)> = Vec::new(); // (base, len)
    let mut low = 0;
    let mut remaining = n;
    while remaining != 0 {
        let mut run = count_and_make_run(v, low, low + remaining, cmp);
        if run < min_run {
            let forced = min_run.min(remaining);
            binary_insertion_sort(v, low, low + run, low + forced, cmp);
            run = forced;
        }
        runs.push((low, run));
        merge_collapse(v, &mut runs, cmp);
        low += run;
        remaining -= run;
    }
    while runs.len() > 1 {
        let mut i = runs.len() - 2;
        if i > 0 && runs[i - 1].1 < runs[i + 1].1 {
            i -= 1;
        }
        merge_at(v, &mut runs, i, cmp);
    }
}

fn min_run_length(mut n: usize) -> usize {
    let mut r = 0;
    while n >= 64 {
        r |= n & 1;
        n >>= 1;
    }
    n + r
}

fn count_and_make_run<T>(
    v: &mut [T],
    low: usize,
    high: usize,
    cmp: &mut impl FnMut(&T, &T) -> Ordering,
) -> usize {
    if low + 1 == high {
        return 1;
    }
    let descending = cmp(&v[low + 1], &v[low]) == Ordering::Less;
    let mut len = 2;
    let mut idx = low + 2;
    while idx < high {
        let order = cmp(&v[idx], &v[idx - 1]);
        let stop = if descending {
            order != Ordering::Less
        } else {
            order == Ordering::Less
        };
        if stop {
            break;
        }
        len += 1;
        idx += 1;
    }
    if descending {
        v[low..low + len].reverse();
    }
    len
}

fn binary_insertion_sort<T>(
    v: &mut [T],
    low: usize,
    start: usize,
    high: usize,
    cmp: &mut impl FnMut(&T, &T) -> Ordering,
) {
    let start = if low == start { start + 1 } else { start };
    for s in start..high {
        let (mut left, mut right) = (low, s);
        while left < right {
            let mid = left + ((right - left) >> 1);
            if cmp(&v[s], &v[mid]) == Ordering::Less {
                right = mid;
            } else {
                left = mid + 1;
            }
        }
        v[left..=s].rotate_right(1);
    }
}

fn merge_collapse<T>(
    v: &mut [T],
    runs: &mut Vec<(usize, usize)>,
    cmp: &mut impl FnMut(&T, &T) -> Ordering,
) {
    let established =
        |runs: &[(usize, usize)], n: usize| n < 2 || runs[n - 2].1 > runs[n - 1].1 + runs[n].1;
    while runs.len() > 1 {
        let mut n = runs.len() - 2;
        if !established(runs, n + 1) || !established(runs, n) {
            if runs[n - 1].1 < runs[n + 1].1 {
                n -= 1;
            }
            merge_at(v, runs, n, cmp);
        } else if runs[n].1 <= runs[n + 1].1 {
            merge_at(v, runs, n, cmp);
        } else {
            break;
        }
    }
}

/// Merges runs `i` and `i + 1` (stable: on ties the left run's element comes first).
fn merge_at<T>(
    v: &mut [T],
    runs: &mut Vec<(usize, usize)>,
    i: usize,
    cmp: &mut impl FnMut(&T, &T) -> Ordering,
) {
    let (base_a, len_a) = runs[i];
    let (_, len_b) = runs[i + 1];
    runs[i].1 = len_a + len_b;
    runs.remove(i + 1);
    // Merge via an index permutation so no `T: Clone` is needed.
    let (mut a, mut b) = (base_a, base_a + len_a);
    let (end_a, end_b) = (base_a + len_a, base_a + len_a + len_b);
    let mut order = Vec::with_capacity(len_a + len_b);
    while a < end_a && b < end_b {
        if cmp(&v[b], &v[a]) == Ordering::Less {
            order.push(b);
            b += 1;
        } else {
            order.push(a);
            a += 1;
        }
    }
    order.extend(a..end_a);
    order.extend(b..end_b);
    apply_permutation(
        &mut v[base_a..end_b],
        order.iter().map(|p| p - base_a).collect(),
    );
}

/// Rearranges `v` so position `k` holds what was at `from[k]`.
fn apply_permutation<T>(v: &mut [T], mut from: Vec<usize>) {
    for start in 0..v.len() {
        let mut k = start;
        while from[k] != start {
            let src = from[k];
            v.swap(k, src);
            from[k] = k;
            k = src;
        }
        from[k] = k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn nulls_then_undefined_go_last() {
        let mut v = vec![
            Js::Undefined,
            Js::Null,
            Js::Num(3.0),
            Js::Num(-1.0),
            Js::Str(Cow::Borrowed("b")),
            Js::Null,
        ];
        let mut idx: Vec<usize> = (0..v.len()).collect();
        v8_sort(&mut idx, &mut |a, b| {
            compare_ascending(&v[*a], &v[*b]).then(a.cmp(b))
        });
        let sorted: Vec<String> = idx.iter().map(|i| format!("{:?}", v[*i])).collect();
        assert_eq!(sorted[0], "Num(-1.0)");
        assert_eq!(sorted[4], "Null");
        assert_eq!(sorted[5], "Undefined");
        v.clear();
    }

    #[test]
    fn stable_and_matches_std_on_consistent_orders() {
        for n in [0, 1, 2, 5, 63, 64, 65, 200, 1000] {
            let data: Vec<(u32, usize)> = (0..n)
                .map(|i| ((i as u32).wrapping_mul(2654435761) % 17, i))
                .collect();
            let mut ours = data.clone();
            v8_sort(&mut ours, &mut |a, b| a.0.cmp(&b.0));
            let mut std = data.clone();
            std.sort_by_key(|x| x.0);
            assert_eq!(ours, std, "n = {n}");
        }
    }

    #[test]
    fn inconsistent_comparisons_do_not_panic() {
        // "x" is "equal" to every number; numbers order among themselves.
        let data: Vec<Js> = (0..300)
            .map(|i| {
                if i % 7 == 0 {
                    Js::Str(Cow::Borrowed("x"))
                } else {
                    Js::Num(((i * 37) % 101) as f64)
                }
            })
            .collect();
        let mut idx: Vec<usize> = (0..data.len()).collect();
        v8_sort(&mut idx, &mut |a, b| {
            compare_ascending(&data[*a], &data[*b]).then(a.cmp(b))
        });
        let mut seen = idx.clone();
        seen.sort();
        assert_eq!(seen, (0..300).collect::<Vec<_>>());
    }
}
