//! Folding customer text into comparable words, in both scripts.
//!
//! The catalogue and the parser fold text the same way, so "২কেজি",
//! "2 KG" and "2kg" all become the words `2` `kg`, and the two Unicode
//! spellings of "পেঁয়াজ" (precomposed য় or য + nukta) compare equal.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use rust_decimal::Decimal;

/// Lower-cases, turns Bangla digits into ASCII ones, spells out precomposed
/// Bangla letters and drops zero-width joiners.
#[must_use]
pub fn fold(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '০'..='৯' => {
                let digit = u32::from(c) - u32::from('০');
                folded.push(char::from_digit(digit, 10).unwrap_or('0'));
            }
            // ড় ঢ় য় are the same letters as ড ঢ য plus a nukta; keyboards
            // produce either form.
            '\u{09DC}' => folded.push_str("\u{09A1}\u{09BC}"),
            '\u{09DD}' => folded.push_str("\u{09A2}\u{09BC}"),
            '\u{09DF}' => folded.push_str("\u{09AF}\u{09BC}"),
            '\u{200C}' | '\u{200D}' | '\u{FEFF}' => {}
            _ => folded.extend(c.to_lowercase()),
        }
    }
    folded
}

/// Whether the text has any Bangla letter in it.
#[must_use]
pub fn has_bangla(text: &str) -> bool {
    text.chars().any(is_bangla)
}

fn is_bangla(c: char) -> bool {
    ('\u{0980}'..='\u{09FF}').contains(&c)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_bangla(c)
}

/// Splits folded text into words: punctuation separates, and so does a
/// change between digits and letters ("2kg" is `2` `kg`). A '.' or '/'
/// between digits stays, for "1.5" and "1/2".
#[must_use]
pub fn words(folded: &str) -> Vec<String> {
    let chars: Vec<char> = folded.chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let in_number = |c: char| c.is_ascii_digit();
        let joins_digits = (c == '.' || c == '/')
            && i > 0
            && in_number(chars[i - 1])
            && chars.get(i + 1).is_some_and(|&n| in_number(n));
        if !(is_word_char(c) || joins_digits) {
            flush(&mut current, &mut words);
            continue;
        }
        if let Some(last) = current.chars().last()
            && !joins_digits
            && last != '.'
            && last != '/'
            && in_number(last) != in_number(c)
        {
            flush(&mut current, &mut words);
        }
        current.push(c);
    }
    flush(&mut current, &mut words);
    words
}

fn flush(current: &mut String, words: &mut Vec<String>) {
    if !current.is_empty() {
        words.push(std::mem::take(current));
    }
}

/// Folds and splits, then joins with single spaces: the key the catalogue
/// indexes phrases by.
#[must_use]
pub fn phrase_key(text: &str) -> String {
    words(&fold(text)).join(" ")
}

/// Number words: (word, value in hundredths, needs a unit after it).
/// Romanised "tin", "char", "sat" are also English words, so they count as
/// numbers only before a unit.
const NUMBER_WORDS: &[(&str, i64, bool)] = &[
    ("a", 100, false),
    ("an", 100, false),
    ("one", 100, false),
    ("এক", 100, false),
    ("ek", 100, false),
    ("two", 200, false),
    ("দুই", 200, false),
    ("দু", 200, false),
    ("dui", 200, false),
    ("du", 200, false),
    ("three", 300, false),
    ("তিন", 300, false),
    ("tin", 300, true),
    ("four", 400, false),
    ("চার", 400, false),
    ("char", 400, true),
    ("five", 500, false),
    ("পাঁচ", 500, false),
    ("pach", 500, false),
    ("panch", 500, false),
    ("six", 600, false),
    ("ছয়", 600, false),
    ("ছয়", 600, false),
    ("choy", 600, false),
    ("chhoy", 600, false),
    ("seven", 700, false),
    ("সাত", 700, false),
    ("sat", 700, true),
    ("eight", 800, false),
    ("আট", 800, false),
    ("at", 800, true),
    ("aat", 800, true),
    ("nine", 900, false),
    ("নয়", 900, false),
    ("noy", 900, true),
    ("ten", 1000, false),
    ("দশ", 1000, false),
    ("dosh", 1000, false),
    ("eleven", 1100, false),
    ("এগারো", 1100, false),
    ("twelve", 1200, false),
    ("বারো", 1200, false),
    ("fifteen", 1500, false),
    ("পনেরো", 1500, false),
    ("twenty", 2000, false),
    ("বিশ", 2000, false),
    ("কুড়ি", 2000, false),
    ("thirty", 3000, false),
    ("ত্রিশ", 3000, false),
    ("fifty", 5000, false),
    ("পঞ্চাশ", 5000, false),
    ("hundred", 10000, false),
    ("একশ", 10000, false),
    ("একশো", 10000, false),
    ("half", 50, false),
    ("আধা", 50, false),
    ("আধ", 50, false),
    ("adha", 50, false),
    ("aadha", 50, false),
    ("quarter", 25, false),
    ("সোয়া", 125, false),
    ("shoa", 125, true),
    ("দেড়", 150, false),
    ("der", 150, false),
    ("dedh", 150, false),
    ("আড়াই", 250, false),
    ("arai", 250, false),
    ("aarai", 250, false),
];

const AND_A_HALF_WORDS: &[&str] = &["সাড়ে", "sare", "share", "saare"];

const FILLER_WORDS: &[&str] = &[
    "please",
    "pls",
    "plz",
    "kindly",
    "need",
    "needed",
    "want",
    "i",
    "we",
    "give",
    "me",
    "us",
    "send",
    "get",
    "of",
    "the",
    "some",
    "about",
    "approx",
    "around",
    "only",
    "bhai",
    "vai",
    "ভাই",
    "আমার",
    "আমাকে",
    "আমাদের",
    "লাগবে",
    "দরকার",
    "চাই",
    "দিন",
    "দাও",
    "দেন",
    "দিবেন",
    "পাঠান",
    "lagbe",
    "dorkar",
    "chai",
    "din",
    "dao",
    "den",
    "diben",
    "ami",
    "amar",
    "amake",
    "er",
    "এর",
];

const EVENT_WORDS: &[&str] = &[
    "dinner",
    "lunch",
    "breakfast",
    "birthday",
    "wedding",
    "party",
    "dawat",
    "daawat",
    "dawaat",
    "invitation",
    "guest",
    "guests",
    "people",
    "persons",
    "person",
    "pax",
    "family",
    "friends",
    "make",
    "cook",
    "cooking",
    "for",
    "with",
    "দাওয়াত",
    "জন্মদিন",
    "জন্মদিনের",
    "মেহমান",
    "অতিথি",
    "রাতের",
    "দুপুরের",
    "খাবার",
    "পার্টি",
    "রান্না",
    "জনের",
    "জন",
    "জন্য",
    "jon",
    "joner",
    "jonno",
    "rater",
    "khabar",
];

const PEOPLE_WORDS: &[&str] = &[
    "people",
    "persons",
    "person",
    "guests",
    "pax",
    "জন",
    "জনের",
    "jon",
    "joner",
    "মেহমান",
    "অতিথি",
];

const CONJUNCTIONS: &[&str] = &["and", "আর", "ও", "এবং", "ar", "aar", "ebong", "plus", "&"];

struct WordSets {
    numbers: HashMap<String, (Decimal, bool)>,
    and_a_half: HashSet<String>,
    fillers: HashSet<String>,
    events: HashSet<String>,
    people: HashSet<String>,
    conjunctions: HashSet<String>,
}

/// Folded once, so the tables above can be written the way people type.
static WORD_SETS: LazyLock<WordSets> = LazyLock::new(|| {
    let set = |list: &[&str]| list.iter().map(|w| fold(w)).collect::<HashSet<String>>();
    WordSets {
        numbers: NUMBER_WORDS
            .iter()
            .map(|&(w, hundredths, needs_unit)| (fold(w), (Decimal::new(hundredths, 2).normalize(), needs_unit)))
            .collect(),
        and_a_half: set(AND_A_HALF_WORDS),
        fillers: set(FILLER_WORDS),
        events: set(EVENT_WORDS),
        people: set(PEOPLE_WORDS),
        conjunctions: set(CONJUNCTIONS),
    }
});

/// A number written as a word (folded), and whether it only counts as a
/// number when a unit follows.
#[must_use]
pub fn number_word(word: &str) -> Option<(Decimal, bool)> {
    WORD_SETS.numbers.get(word).copied()
}

/// Words that turn the following number into "and a half": "সাড়ে তিন" is 3.5.
#[must_use]
pub fn is_and_a_half(word: &str) -> bool {
    WORD_SETS.and_a_half.contains(word)
}

/// Classifiers glued to a count: "দুইটা", "ekta" are so many pieces.
#[must_use]
pub fn split_classifier(word: &str) -> Option<(&str, &'static str)> {
    ["টা", "টি", "টো", "ta", "ti", "to"].into_iter().find_map(|suffix| {
        let stem = word.strip_suffix(suffix)?;
        // "atta" is flour, not "at" (eight) pieces: only plain number words.
        number_word(stem)
            .filter(|(_, needs_unit)| !needs_unit)
            .map(|_| (stem, suffix))
    })
}

/// Words that carry no item meaning in a demand line ("please", "লাগবে").
#[must_use]
pub fn is_filler(word: &str) -> bool {
    WORD_SETS.fillers.contains(word)
}

/// Words that name the occasion or the guests in an event line.
#[must_use]
pub fn is_event_word(word: &str) -> bool {
    WORD_SETS.events.contains(word)
}

/// Words that say the number before them counts people.
#[must_use]
pub fn is_people_word(word: &str) -> bool {
    WORD_SETS.people.contains(word)
}

/// Words that join two items on one line.
#[must_use]
pub fn is_conjunction(word: &str) -> bool {
    WORD_SETS.conjunctions.contains(word)
}

/// Edit distance in characters, counting a swap of neighbours ("onoin")
/// as one edit; None when above `limit`.
#[must_use]
pub fn edit_distance_within(a: &str, b: &str, limit: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d.last().copied().filter(|&distance| distance <= limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_digits_case_and_nukta_spellings() {
        assert_eq!(fold("২ KG"), "2 kg");
        assert_eq!(fold("পে\u{0981}\u{09DF}াজ"), fold("পে\u{0981}\u{09AF}\u{09BC}াজ"));
    }

    #[test]
    fn splits_numbers_from_units_and_drops_punctuation() {
        assert_eq!(words(&fold("2kg rice!")), ["2", "kg", "rice"]);
        assert_eq!(words(&fold("১.৫লিটার তেল।")), ["1.5", "লিটার", "তেল"]);
        assert_eq!(words("rice - 1/2 kg."), ["rice", "1/2", "kg"]);
        assert_eq!(words(&fold("৬টা ডিম")), ["6", "টা", "ডিম"]);
    }

    #[test]
    fn edit_distance() {
        assert_eq!(edit_distance_within("rise", "rice", 1), Some(1));
        assert_eq!(edit_distance_within("sugr", "sugar", 1), Some(1));
        assert_eq!(edit_distance_within("salt", "milk", 1), None);
        assert_eq!(edit_distance_within("onoin", "onion", 1), Some(1));
    }
}
