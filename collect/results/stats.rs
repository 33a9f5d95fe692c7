//! Repeats: the mean of a figure measured more than once, and its 95% confidence interval
//! (Student's t, two-sided: the mean ± t(0.975, n − 1) · s / √n, with s the sample standard
//! deviation). One measurement has a mean and no interval.

/// A figure over its repeats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub mean: f64,
    /// How many measurements.
    pub n: usize,
    /// Half the width of the 95% confidence interval; `None` for one measurement.
    pub half_width: Option<f64>,
}

impl Estimate {
    /// The estimate of `values` (`None` when there are none).
    pub fn of(values: &[f64]) -> Option<Estimate> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let half_width = (n > 1).then(|| {
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            t975(n - 1) * (var / n as f64).sqrt()
        });
        Some(Estimate {
            mean,
            n,
            half_width,
        })
    }

    /// One measurement.
    pub fn one(v: f64) -> Estimate {
        Estimate {
            mean: v,
            n: 1,
            half_width: None,
        }
    }

    /// The interval's ends, when there is one.
    pub fn interval(&self) -> Option<(f64, f64)> {
        self.half_width.map(|h| (self.mean - h, self.mean + h))
    }

    /// Whether the two intervals overlap (the difference is within them); `None` when either
    /// has no interval.
    pub fn overlaps(&self, other: &Estimate) -> Option<bool> {
        let (a0, a1) = self.interval()?;
        let (b0, b1) = other.interval()?;
        Some(a0 <= b1 && b0 <= a1)
    }
}

/// The 0.975 quantile of Student's t distribution with `df` degrees of freedom (df ≥ 1): a
/// table to 30, then the Cornish-Fisher expansion around the normal quantile (within 1e-6 of
/// the exact value from df 30 on).
pub fn t975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706204736,
        4.302652730,
        3.182446305,
        2.776445105,
        2.570581836,
        2.446911851,
        2.364624252,
        2.306004135,
        2.262157163,
        2.228138852,
        2.200985160,
        2.178812830,
        2.160368656,
        2.144786688,
        2.131449546,
        2.119905299,
        2.109815578,
        2.100922040,
        2.093024054,
        2.085963447,
        2.079613845,
        2.073873068,
        2.068657610,
        2.063898562,
        2.059538553,
        2.055529439,
        2.051830516,
        2.048407142,
        2.045229642,
        2.042272456,
    ];
    if df == 0 {
        return f64::INFINITY;
    }
    if df <= TABLE.len() {
        return TABLE[df - 1];
    }
    let z: f64 = 1.959_963_984_540_054;
    let v = df as f64;
    let (z3, z5, z7, z9) = (z.powi(3), z.powi(5), z.powi(7), z.powi(9));
    z + (z3 + z) / (4.0 * v)
        + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * v * v)
        + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * v.powi(3))
        + (79.0 * z9 + 776.0 * z7 + 1482.0 * z5 - 1920.0 * z3 - 945.0 * z) / (92160.0 * v.powi(4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_published_values() {
        // R: qt(0.975, df)
        for (df, want) in [
            (1, 12.706204736),
            (2, 4.302652730),
            (30, 2.042272456),
            (31, 2.039513446),
            (40, 2.021075390),
            (100, 1.983971519),
            (1000, 1.962339081),
        ] {
            assert!((t975(df) - want).abs() < 1e-6, "df {df}: {}", t975(df));
        }
    }

    #[test]
    fn three_repeats_have_the_interval_by_hand() {
        // 10, 12, 14: mean 12, s = 2, s/√3 = 1.1547, t(2) = 4.3027: 12 ± 4.9683.
        let e = Estimate::of(&[10.0, 12.0, 14.0]).unwrap();
        assert_eq!(e.mean, 12.0);
        assert_eq!(e.n, 3);
        let h = e.half_width.unwrap();
        assert!((h - 4.302652730 * 2.0 / 3f64.sqrt()).abs() < 1e-12, "{h}");
        assert!((h - 4.968275).abs() < 1e-6);
        let one = Estimate::of(&[5.0]).unwrap();
        assert_eq!(one, Estimate::one(5.0));
        assert_eq!(one.overlaps(&e), None);
        assert!(Estimate::of(&[]).is_none());
        let far = Estimate::of(&[30.0, 31.0, 32.0]).unwrap();
        assert_eq!(e.overlaps(&far), Some(false));
        let near = Estimate::of(&[15.0, 16.0, 17.0]).unwrap();
        assert_eq!(e.overlaps(&near), Some(true));
    }
}
