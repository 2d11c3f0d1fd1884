//! The catalogue: items with their English and Bangla names and synonyms,
//! and recipes for events. It is a data file (`shared/catalogue/catalogue.toml`)
//! that people who do not program extend; it is checked at load time and a
//! mistake is reported with the line it is on.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use rust_decimal::Decimal;
use serde::Deserialize;
use toml::Spanned;

use super::quantity::{Quantity, Unit};
use super::words::{has_bangla, phrase_key, words};

/// The catalogue built into the binary.
pub const BUILTIN_CATALOGUE: &str = include_str!("../../../catalogue/catalogue.toml");

/// A catalogue file that could not be used, with where the mistake is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin} line {line}: {message}")]
pub struct CatalogueError {
    /// The file name, or "built-in catalogue".
    pub origin: String,
    /// 1-based line of the mistake (0 when the file could not be read).
    pub line: usize,
    pub message: String,
}

/// One thing a customer can ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueItem {
    /// English name, unique in the catalogue.
    pub name: String,
    /// Bangla name.
    pub name_bn: String,
    /// The inventory tag stores list.
    pub tag: String,
    /// The store category that sells it.
    pub category: String,
    /// What a bare number means for it ("6 eggs": pieces).
    pub unit: Unit,
}

/// An amount of a catalogue item in a recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingredient {
    /// Index into [`Catalogue::items`].
    pub item: usize,
    pub quantity: Quantity,
}

/// A dish for a party: amounts per person and for the whole party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    pub name: String,
    pub name_bn: String,
    pub per_person: Vec<Ingredient>,
    pub per_party: Vec<Ingredient>,
}

/// The loaded, checked catalogue with its phrase indexes.
#[derive(Debug, Clone)]
pub struct Catalogue {
    items: Vec<CatalogueItem>,
    recipes: Vec<Recipe>,
    /// Folded phrase ("soybean oil", "চাল") to item index.
    item_phrases: HashMap<String, usize>,
    recipe_phrases: HashMap<String, usize>,
    /// Most words in one item phrase or recipe phrase.
    longest_phrase: usize,
    /// Single-word phrases, for spelling mistakes.
    single_words: Vec<(String, usize)>,
}

static BUILTIN: LazyLock<Result<Catalogue, CatalogueError>> =
    LazyLock::new(|| Catalogue::parse(BUILTIN_CATALOGUE, "built-in catalogue"));

impl Catalogue {
    /// The catalogue built into the binary, checked once. A test proves it
    /// loads, so the error only appears if the file is broken in a build.
    pub fn builtin() -> Result<&'static Catalogue, CatalogueError> {
        BUILTIN.as_ref().map_err(Clone::clone)
    }

    /// Loads and checks a catalogue file, e.g. one an operator extended.
    pub fn load(path: &std::path::Path) -> Result<Catalogue, CatalogueError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| CatalogueError {
            origin: origin.clone(),
            line: 0,
            message: format!("cannot read the file: {e}"),
        })?;
        Catalogue::parse(&text, &origin)
    }

    /// Parses and checks catalogue text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Catalogue, CatalogueError> {
        let error = |span: std::ops::Range<usize>, message: String| CatalogueError {
            origin: origin.to_string(),
            line: line_of(text, span.start),
            message,
        };
        let raw: RawCatalogue = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_of(text, s.start));
            CatalogueError {
                origin: origin.to_string(),
                line,
                message: e.message().to_string(),
            }
        })?;
        let mut builder = Builder::default();
        for spanned in &raw.item {
            let item = spanned.get_ref();
            builder
                .add_item(item)
                .map_err(|m| error(spanned.span(), format!("item {:?}: {m}", item.name.get_ref())))?;
        }
        for spanned in &raw.recipe {
            let recipe = spanned.get_ref();
            builder
                .add_recipe(recipe)
                .map_err(|(span, m)| error(span, format!("recipe {:?}: {m}", recipe.name.get_ref())))?;
        }
        if builder.catalogue.items.is_empty() {
            return Err(error(0..0, "the catalogue has no [[item]]".to_string()));
        }
        Ok(builder.catalogue)
    }

    #[must_use]
    pub fn items(&self) -> &[CatalogueItem] {
        &self.items
    }

    /// The store categories its items belong to, sorted, each once.
    #[must_use]
    pub fn categories(&self) -> Vec<&str> {
        let mut categories: Vec<&str> = self.items.iter().map(|i| i.category.as_str()).collect();
        categories.sort_unstable();
        categories.dedup();
        categories
    }

    #[must_use]
    pub fn recipes(&self) -> &[Recipe] {
        &self.recipes
    }

    /// The item a folded phrase names exactly.
    #[must_use]
    pub fn item_by_phrase(&self, phrase: &str) -> Option<usize> {
        self.item_phrases.get(phrase).copied()
    }

    /// The recipe a folded phrase names exactly.
    #[must_use]
    pub fn recipe_by_phrase(&self, phrase: &str) -> Option<usize> {
        self.recipe_phrases.get(phrase).copied()
    }

    /// The item by its English name.
    #[must_use]
    pub fn item_named(&self, name: &str) -> Option<&CatalogueItem> {
        self.items.iter().find(|i| i.name == name)
    }

    /// The item by index.
    #[must_use]
    pub fn item(&self, index: usize) -> Option<&CatalogueItem> {
        self.items.get(index)
    }

    #[must_use]
    pub fn longest_phrase(&self) -> usize {
        self.longest_phrase
    }

    /// The one item whose single-word name is within one typo (two for long
    /// words) of `word`; None when none is, or when several are equally close.
    #[must_use]
    pub fn item_by_spelling(&self, word: &str) -> Option<usize> {
        let length = word.chars().count();
        if length < 4 || word.chars().any(|c| c.is_ascii_digit()) {
            return None;
        }
        let limit = if length >= 7 { 2 } else { 1 };
        let mut best: Option<(usize, usize)> = None;
        let mut tied = false;
        let first = word.chars().next();
        // People rarely get the first letter wrong; requiring it keeps
        // "nice" from reading as rice.
        for (phrase, item) in self.single_words.iter().filter(|(p, _)| p.chars().next() == first) {
            let Some(distance) = super::words::edit_distance_within(word, phrase, limit) else {
                continue;
            };
            match best {
                Some((d, i)) if d == distance && i != *item => tied = true,
                Some((d, _)) if d <= distance => {}
                _ => {
                    best = Some((distance, *item));
                    tied = false;
                }
            }
        }
        if tied { None } else { best.map(|(_, item)| item) }
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |before| before.matches('\n').count()) + 1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalogue {
    #[serde(default)]
    item: Vec<Spanned<RawItem>>,
    #[serde(default)]
    recipe: Vec<Spanned<RawRecipe>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    name: Spanned<String>,
    bn: String,
    category: String,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    synonyms: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecipe {
    name: Spanned<String>,
    bn: String,
    #[serde(default)]
    synonyms: Vec<Spanned<String>>,
    #[serde(default)]
    per_person: Vec<Spanned<RawIngredient>>,
    #[serde(default)]
    per_party: Vec<Spanned<RawIngredient>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIngredient {
    item: String,
    amount: RawAmount,
    unit: String,
}

/// Amounts may be written as numbers or as text; both become exact decimals.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawAmount {
    Integer(i64),
    Float(f64),
    Text(String),
}

impl RawAmount {
    fn exact(&self) -> Option<Decimal> {
        match self {
            RawAmount::Integer(n) => Some(Decimal::from(*n)),
            // Rust prints the shortest text that reads back as the same
            // float, which is what the person wrote: 0.2, not 0.2000000001.
            RawAmount::Float(f) => Decimal::from_str(&f.to_string()).ok(),
            RawAmount::Text(t) => Decimal::from_str(t.trim()).ok(),
        }
    }
}

#[derive(Default)]
struct Builder {
    catalogue: Catalogue,
    /// Which item or recipe first used a phrase, for duplicate messages.
    owners: HashMap<String, String>,
}

impl Default for Catalogue {
    fn default() -> Self {
        Catalogue {
            items: Vec::new(),
            recipes: Vec::new(),
            item_phrases: HashMap::new(),
            recipe_phrases: HashMap::new(),
            longest_phrase: 1,
            single_words: Vec::new(),
        }
    }
}

fn parse_unit(word: &str) -> Result<Unit, String> {
    Unit::from_word(word.trim())
        .ok_or_else(|| format!("unknown unit {word:?} (use g, kg, ml, l, piece, dozen or packet)"))
}

impl Builder {
    fn add_item(&mut self, raw: &RawItem) -> Result<(), String> {
        let name = raw.name.get_ref().trim();
        if name.is_empty() || has_bangla(name) {
            return Err("name must be the English name and not empty".into());
        }
        if raw.bn.trim().is_empty() {
            return Err("bn (the Bangla name) is empty".into());
        }
        if raw.category.trim().is_empty() {
            return Err("category is empty".into());
        }
        let unit = match &raw.unit {
            Some(word) => parse_unit(word)?,
            None => Unit::Piece,
        };
        let index = self.catalogue.items.len();
        let tag = raw.tag.as_deref().map_or(name, str::trim).to_lowercase();
        self.catalogue.items.push(CatalogueItem {
            name: name.to_string(),
            name_bn: raw.bn.trim().to_string(),
            tag,
            category: raw.category.trim().to_lowercase(),
            unit,
        });
        let mut phrases = vec![name.to_string(), raw.bn.clone()];
        phrases.extend(raw.synonyms.iter().map(|s| s.get_ref().clone()));
        for phrase in phrases {
            let key = phrase_key(&phrase);
            if key.is_empty() {
                return Err(format!("synonym {phrase:?} has no letters"));
            }
            match self.owners.get(&key) {
                Some(owner) if owner == name => continue,
                Some(owner) => return Err(format!("{phrase:?} is already a name of item {owner:?}")),
                None => {}
            }
            self.owners.insert(key.clone(), name.to_string());
            let word_count = words(&key).len();
            self.catalogue.longest_phrase = self.catalogue.longest_phrase.max(word_count);
            if word_count == 1 {
                self.catalogue.single_words.push((key.clone(), index));
            }
            self.catalogue.item_phrases.insert(key, index);
        }
        Ok(())
    }

    fn add_recipe(&mut self, raw: &RawRecipe) -> Result<(), (std::ops::Range<usize>, String)> {
        let name = raw.name.get_ref().trim();
        let at_name = raw.name.span();
        if name.is_empty() {
            return Err((at_name, "name is empty".into()));
        }
        if raw.bn.trim().is_empty() {
            return Err((at_name, "bn (the Bangla name) is empty".into()));
        }
        if raw.per_person.is_empty() && raw.per_party.is_empty() {
            return Err((at_name, "has no ingredients".into()));
        }
        let index = self.catalogue.recipes.len();
        let per_person = self.ingredients(&raw.per_person)?;
        let per_party = self.ingredients(&raw.per_party)?;
        self.catalogue.recipes.push(Recipe {
            name: name.to_string(),
            name_bn: raw.bn.trim().to_string(),
            per_person,
            per_party,
        });
        let mut phrases = vec![(name.to_string(), at_name.clone()), (raw.bn.clone(), at_name)];
        phrases.extend(raw.synonyms.iter().map(|s| (s.get_ref().clone(), s.span())));
        for (phrase, span) in phrases {
            let key = phrase_key(&phrase);
            if key.is_empty() {
                return Err((span, format!("synonym {phrase:?} has no letters")));
            }
            if let Some(&other) = self.catalogue.recipe_phrases.get(&key) {
                if other != index {
                    let owner = self.catalogue.recipes.get(other).map_or("", |r| r.name.as_str());
                    return Err((span, format!("{phrase:?} is already a name of recipe {owner:?}")));
                }
                continue;
            }
            self.catalogue.longest_phrase = self.catalogue.longest_phrase.max(words(&key).len());
            self.catalogue.recipe_phrases.insert(key, index);
        }
        Ok(())
    }

    fn ingredients(&self, raw: &[Spanned<RawIngredient>]) -> Result<Vec<Ingredient>, (std::ops::Range<usize>, String)> {
        raw.iter()
            .map(|spanned| {
                let at = spanned.span();
                let ingredient = spanned.get_ref();
                let item = self
                    .catalogue
                    .items
                    .iter()
                    .position(|i| i.name == ingredient.item.trim())
                    .ok_or_else(|| (at.clone(), format!("unknown item {:?}", ingredient.item)))?;
                let unit = parse_unit(&ingredient.unit).map_err(|m| (at.clone(), m))?;
                let amount = ingredient
                    .amount
                    .exact()
                    .filter(|a| *a > Decimal::ZERO)
                    .ok_or_else(|| (at.clone(), format!("amount for {:?} must be above 0", ingredient.item)))?;
                Ok(Ingredient {
                    item,
                    quantity: Quantity { amount, unit },
                })
            })
            .collect()
    }
}

impl fmt::Display for CatalogueItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.name_bn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_catalogue_loads() {
        let catalogue = Catalogue::builtin().expect("built-in catalogue is valid");
        assert!(catalogue.items().len() >= 30);
        let polao = catalogue.recipe_by_phrase("polao").expect("polao recipe");
        assert_eq!(catalogue.recipes()[polao].name, "polao");
        let rice = catalogue.item_by_phrase(&phrase_key("চাল")).expect("rice in Bangla");
        assert_eq!(catalogue.items()[rice].name, "rice");
    }

    const GOOD: &str = r#"
[[item]]
name = "rice"
bn = "চাল"
category = "grocery"
synonyms = ["chal"]

[[item]]
name = "meat"
bn = "মাংস"
category = "meat"
"#;

    fn error_of(text: &str) -> CatalogueError {
        Catalogue::parse(text, "test.toml").expect_err("should be refused")
    }

    #[test]
    fn a_bad_file_is_refused_naming_the_line() {
        let unknown_unit =
            format!("{GOOD}\n[[item]]\nname = \"eggs\"\nbn = \"ডিম\"\ncategory = \"grocery\"\nunit = \"crate\"\n");
        let e = error_of(&unknown_unit);
        assert!(e.message.contains("unknown unit \"crate\""), "{e}");
        assert!(e.message.contains("item \"eggs\""), "{e}");
        assert!((13..=17).contains(&e.line), "{e}");

        let duplicate = GOOD.replace("category = \"meat\"", "category = \"meat\"\nsynonyms = [\"chal\"]");
        let e = error_of(&duplicate);
        assert!(e.message.contains("already a name of item \"rice\""), "{e}");
        assert!(e.to_string().starts_with("test.toml line "), "{e}");

        let recipe = format!(
            "{GOOD}\n[[recipe]]\nname = \"polao\"\nbn = \"পোলাও\"\nper_person = [\n  {{ item = \"rice\", amount = 200, unit = \"g\" }},\n  {{ item = \"saffron\", amount = 1, unit = \"g\" }},\n]\n"
        );
        let e = error_of(&recipe);
        assert_eq!(e.line, 18, "{e}");
        assert!(e.message.contains("unknown item \"saffron\""), "{e}");

        let zero = recipe.replace("\"saffron\", amount = 1", "\"meat\", amount = 0");
        let e = error_of(&zero);
        assert_eq!(e.line, 18, "{e}");
        assert!(e.message.contains("must be above 0"), "{e}");

        let typo_key = GOOD.replace("synonyms", "synonym");
        let e = error_of(&typo_key);
        assert_eq!(e.line, 6, "{e}");
        assert!(e.message.contains("synonym"), "{e}");
    }

    #[test]
    fn amounts_are_exact_whether_written_as_numbers_or_text() {
        let text = format!(
            "{GOOD}\n[[recipe]]\nname = \"x\"\nbn = \"x\"\nper_person = [{{ item = \"rice\", amount = 0.2, unit = \"kg\" }}, {{ item = \"meat\", amount = \"0.1\", unit = \"kg\" }}]\n"
        );
        let catalogue = Catalogue::parse(&text, "t").expect("valid");
        let amounts: Vec<String> = catalogue.recipes()[0]
            .per_person
            .iter()
            .map(|i| i.quantity.amount.to_string())
            .collect();
        assert_eq!(amounts, ["0.2", "0.1"]);
    }
}
