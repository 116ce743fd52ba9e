//! Whether a region name can be used: a resource never falls back to a region
//! nobody chose.

/// Why `region` cannot be used, as a message that says what to change; `None`
/// when it is a well-formed AWS region name (`eu-west-1`, `us-gov-west-1`,
/// `cn-north-1`, `ap-southeast-5`).
///
/// An empty `region` means neither the object nor the operator named one.
pub fn problem(region: &str) -> Option<String> {
    if region.is_empty() {
        return Some(
            "no AWS region: set spec.region, or give the operator a default region \
             (AWS_REGION, or the Helm value aws.region)"
                .into(),
        );
    }
    if is_region_name(region) {
        None
    } else {
        Some(format!(
            "region {region:?} is not an AWS region name: use one like eu-west-1 or us-east-1 \
             (spec.region, else the operator's AWS_REGION)"
        ))
    }
}

// AWS region names: a partition-country prefix of two to four letters (`eu`,
// `eusc` of the European Sovereign Cloud), optional
// qualifiers (gov, iso, isob, ...), a direction, and a number:
// `<cc>(-<qualifier>)*-<direction>-<n>`.
fn is_region_name(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let Some((number, words)) = parts.split_last() else { return false };
    let lower_word = |w: &&str| !w.is_empty() && w.len() <= 12 && w.bytes().all(|b| b.is_ascii_lowercase());
    words.len() >= 2
        && words.len() <= 4
        && (2..=4).contains(&words[0].len())
        && words.iter().all(lower_word)
        && !number.is_empty()
        && number.len() <= 2
        && number.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::problem;

    #[test]
    fn real_region_names_are_accepted() {
        for r in [
            "us-east-1",
            "eu-west-3",
            "ap-southeast-5",
            "us-gov-west-1",
            "cn-northwest-1",
            "il-central-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "eu-isoe-west-1",
            "mx-central-1",
            "eusc-de-east-1",
        ] {
            assert_eq!(problem(r), None, "{r}");
        }
    }

    #[test]
    fn a_missing_region_says_where_to_set_one() {
        let m = problem("").unwrap();
        assert!(m.contains("spec.region") && m.contains("AWS_REGION") && m.contains("aws.region"), "{m}");
    }

    #[test]
    fn typos_and_other_strings_are_refused_with_an_example() {
        for r in
            ["us-east1", "useast-1", "eu-west", "US-EAST-1", "us-east-1a", "eu_west_1", "east-1", " us-east-1", "x"]
        {
            let m = problem(r).unwrap_or_else(|| panic!("{r} accepted"));
            assert!(m.contains("eu-west-1") && m.contains(&format!("{r:?}")), "{m}");
        }
    }
}
