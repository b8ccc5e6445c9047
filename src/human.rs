//! Numbers as people read them in messages and logs: counts grouped by
//! thousands (`15,900`). Durations have theirs in [`crate::duration::human`].

/// A count with thousands separators, as people read large numbers: `15,900`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(15_900), "15,900");
        assert_eq!(thousands(5_242_897), "5,242,897");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }
}
