//! The one model of all settings: the TUI edits it, `e` exports it,
//! `--config` and `report` load it.

mod export;
mod member_keys;
mod parse;
mod presets;
mod weights_config;

use serde::{Deserialize, Serialize};

use crate::compute::deploy::DeployConfig;
use crate::compute::ensemble::{DataConfig, EnsembleConfig};
use crate::compute::quant::{InvalidSetting, QuantConfig};

pub use export::qscheme;
pub use parse::{SettingsError, merge};
pub use presets::{PRESETS, Preset, preset};
pub use weights_config::WeightsConfig;

pub const DEFAULT_EXPORT: &str = "qmc-settings.toml";
pub const SYNTHETIC: &str = "synthetic";
/// The embedded iris data set, the ensemble lab's default.
pub const IRIS: &str = "iris";

/// Every setting of the tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Informational on export (the preset the settings equal); on load, the
    /// base that the file's other keys override.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    pub weights: WeightsConfig,
    pub quant: QuantConfig,
    pub data: DataConfig,
    pub ensemble: EnsembleConfig,
    pub deploy: DeployConfig,
    /// Written on export for the record; recomputed, never read back.
    #[serde(skip_serializing)]
    derived: Ignored,
    #[serde(skip_serializing)]
    metrics: Ignored,
    #[serde(skip_serializing)]
    ensemble_metrics: Ignored,
    #[serde(skip_serializing)]
    deploy_metrics: Ignored,
}

/// A section accepted on load but not kept: it is derived from the settings.
#[derive(Debug, Clone, Copy, Default)]
struct Ignored;

impl PartialEq for Ignored {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<'de> Deserialize<'de> for Ignored {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Ignored)
    }
}

impl Settings {
    /// The preset these settings equal, if any.
    pub fn matching_preset(&self) -> Option<&'static str> {
        PRESETS.iter().find(|p| self.with_preset(p) == self.without_preset()).map(|p| p.name)
    }

    fn without_preset(&self) -> Settings {
        Settings { preset: None, ..self.clone() }
    }

    /// These settings with a preset applied on top.
    pub fn with_preset(&self, p: &Preset) -> Settings {
        let mut s = self.without_preset();
        (p.apply)(&mut s);
        s
    }

    pub fn validate(&self) -> Result<(), InvalidSetting> {
        self.weights.validate()?;
        self.quant.validate()?;
        self.data.validate()?;
        self.ensemble.validate()?;
        self.deploy.validate()
    }

    /// The settings as a file elsewhere must hold them: file paths absolute.
    pub fn portable(&self) -> Settings {
        let mut s = self.clone();
        let absolute = |source: &mut String| {
            if let Ok(abs) = std::path::absolute(source.as_str()) {
                *source = abs.display().to_string();
            }
        };
        if !s.weights.is_synthetic() {
            absolute(&mut s.weights.source);
        }
        if s.data.source != IRIS {
            absolute(&mut s.data.source);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::analysis::analyze;
    use crate::compute::quant::{Calibration, Granularity, Scheme};
    use crate::compute::weights::Distribution;
    use std::path::Path;

    #[test]
    fn defaults_are_eight_bit_min_max() {
        let s = Settings::default();
        assert_eq!((s.quant.bits, s.quant.calibration, s.quant.scheme), (8, Calibration::MinMax, Scheme::Asymmetric));
        assert_eq!((s.weights.rows, s.weights.cols, s.weights.seed), (1000, 10, 42));
        assert_eq!(s.matching_preset(), Some("int8 per-tensor"));
    }

    #[test]
    fn every_preset_is_valid_and_recognised() {
        for p in PRESETS {
            let s = Settings::default().with_preset(p);
            s.validate().unwrap();
            assert_eq!(s.matching_preset(), Some(p.name));
        }
    }

    #[test]
    fn export_round_trips_exactly() {
        let mut s = Settings::default();
        s.quant.bits = 5;
        s.quant.scale = 0.1;
        s.quant.clip = [-0.30000001192092896, 2.7];
        s.quant.percentile = 99.95;
        s.weights.distribution = Distribution::StudentT;
        s.weights.dof = 2.5;
        let a = analyze(&s.weights.load().unwrap(), &s.quant).unwrap();
        let text = s.to_toml(Some(&a), None, None);
        let back = Settings::parse(&text).unwrap();
        assert_eq!(back.without_preset(), s.without_preset());
    }

    #[test]
    fn every_format_exports_and_loads_back_exactly() {
        let mut s = Settings::default();
        (s.weights.rows, s.weights.cols) = (8, 256);
        let w = s.weights.load().unwrap();
        for kind in crate::compute::formats::BUILTIN_FORMATS {
            s.quant.format = *kind;
            let a = analyze(&w, &s.quant).unwrap();
            let text = s.to_toml(Some(&a), None, None);
            let back = Settings::parse(&text).unwrap_or_else(|e| panic!("{kind}: {e}\n{text}"));
            assert_eq!(back.without_preset(), s.without_preset(), "{kind}");
        }
    }

    #[test]
    fn presets_keep_a_weights_file() {
        let mut s = Settings::default();
        s.weights.source = "w.npy".into();
        for p in PRESETS {
            assert_eq!(s.with_preset(p).weights.source, "w.npy", "{}", p.name);
        }
        s.weights.source = SYNTHETIC.into();
        s.weights.rows = 7;
        assert_eq!(s.with_preset(preset("seed example").unwrap()).weights.rows, 1000);
    }

    #[test]
    fn ensemble_settings_round_trip_exactly() {
        use crate::compute::ensemble::{Fusion, MemberKind};
        let mut s = Settings::default();
        s.data.test_fraction = 0.3;
        s.data.folds = 7;
        s.data.seed = 9;
        s.ensemble.fusion = Fusion::Stacking;
        s.ensemble.members[1].kind = MemberKind::Logistic;
        s.ensemble.members[2].weight = 0.35;
        s.ensemble.members[0].max_features = crate::compute::ensemble::MaxFeatures::Fraction(0.75);
        s.ensemble.members[1].c = 0.25;
        s.ensemble.members[1].max_iter = 500;
        s.ensemble.members.remove(0);
        let text = s.to_toml(None, None, None);
        assert!(text.contains("c = 0.25\nmax_iter = 500"), "{text}");
        let back = Settings::parse(&text).unwrap();
        // Exactly, in every setting a member's kind reads (the logistic
        // member, once a forest, keeps its trees in memory, not on export).
        let read_only = |s: &Settings| {
            let mut s = s.clone();
            for m in &mut s.ensemble.members {
                *m = crate::compute::ensemble::MemberConfig { weight: m.weight, ..m.fit_key() };
            }
            s
        };
        assert_eq!(read_only(&back), read_only(&s));
        assert_eq!(back.ensemble.members[0].trees, crate::compute::ensemble::MemberConfig::default().trees);
        let e = Settings::parse("[[ensemble.members]]\nkind = \"logistic\"\nc = 0.0\n").unwrap_err();
        assert!(e.message.contains("ensemble.members[0].c") && e.line == Some(3), "{e}");
        let e = Settings::parse("[[ensemble.members]]\nkind = \"logistic\"\nmax_iter = 0\n").unwrap_err();
        assert!(e.message.contains("ensemble.members[0].max_iter") && e.line == Some(3), "{e}");
        let two = "[[ensemble.members]]\n[[ensemble.members]]\nkind = \"logistic\"\n\nc = -1.0\n";
        let e = Settings::parse(two).unwrap_err();
        assert!(e.message.contains("ensemble.members[1].c") && e.line == Some(5), "{e}");
        let e = Settings::parse("[[ensemble.members]]\nkind = \"forest\"\ntress = 3\n").unwrap_err();
        assert!(e.message.contains("tress") && e.line == Some(3), "{e}");
    }

    #[test]
    fn an_export_without_members_writes_no_figures() {
        use crate::compute::ensemble::{DataConfig, EnsembleConfig, Fusion, evaluate, prepare};
        let mut s = Settings::default();
        s.ensemble.members.clear();
        let p = prepare(crate::compute::data::iris(), &DataConfig::default()).unwrap();
        let r =
            evaluate(&p, &EnsembleConfig { fusion: Fusion::Soft, members: vec![], ..EnsembleConfig::default() }, &[]);
        let text = s.to_toml(None, Some(&r), None);
        assert!(text.contains("# test_accuracy: none (no members)"), "{text}");
        let t: toml::Table = text.parse().unwrap();
        assert!(t["ensemble_metrics"].get("test_accuracy").is_none());
        assert_eq!(Settings::parse(&text).unwrap(), s);
    }

    #[test]
    fn a_preset_is_a_base_that_keys_override() {
        let s = Settings::parse("preset = \"int4 per-channel mse\"\n[quant]\nbits = 3\n").unwrap();
        assert_eq!(
            (s.quant.bits, s.quant.calibration, s.quant.granularity),
            (3, Calibration::Mse, Granularity::PerChannel)
        );
        let seed = Settings::parse("preset = \"seed example\"\n").unwrap();
        assert_eq!((seed.quant.scheme, seed.quant.scale), (Scheme::Manual, 128.0));
    }

    #[test]
    fn unknown_keys_are_refused_with_key_and_line() {
        let e = Settings::parse("[quant]\nbits = 8\nbitz = 4\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("bitz"), "{e}");
        let e = Settings::parse("[quantize]\nbits = 8\n").unwrap_err();
        assert!(e.message.contains("quantize"), "{e}");
    }

    #[test]
    fn out_of_range_values_are_refused_with_key_and_line() {
        let e = Settings::parse("[weights]\nrows = 10\n\n[quant]\nscheme = \"symmetric\"\nbits = 17\n").unwrap_err();
        assert_eq!(e.line, Some(6));
        assert!(e.message.contains("quant.bits") && e.message.contains("17"), "{e}");
        let e = Settings::parse("[quant]\nclip = [1.0, -1.0]\n").unwrap_err();
        assert!(e.message.contains("quant.clip"), "{e}");
        let e = Settings::parse("[quant]\npercentile = 0\n").unwrap_err();
        assert!(e.message.contains("quant.percentile"), "{e}");
        let e = Settings::parse("[weights]\nrows = 0\n").unwrap_err();
        assert_eq!((e.line, e.message.contains("weights.rows")), (Some(2), true), "{e}");
    }

    #[test]
    fn wrong_types_and_syntax_are_refused_with_the_line() {
        let e = Settings::parse("[quant]\nbits = \"eight\"\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = Settings::parse("[quant]\nscheme = \"sideways\"\n").unwrap_err();
        assert!(e.message.contains("sideways") || e.message.contains("variant"), "{e}");
        let e = Settings::parse("[quant\nbits = 8\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        let e = Settings::parse("preset = \"int2\"\n").unwrap_err();
        assert!(e.message.contains("seed example"), "{e}");
    }

    #[test]
    fn a_member_key_its_kind_does_not_read_is_refused_with_key_and_line() {
        let text = "[[ensemble.members]]\nkind = \"forest\"\n\n[[ensemble.members]]\nkind = \"knn\"\ntrees = 50\n";
        let e = Settings::parse(text).unwrap_err();
        assert_eq!(e.line, Some(6), "{e}");
        for part in ["ensemble.members[1].trees", "knn", "n_neighbors, neighbor_weights, weight"] {
            assert!(e.message.contains(part), "{part}: {e}");
        }
        // A key the kind reads, or one at its default (older exports listed
        // every field for every member), loads.
        let s =
            Settings::parse("[[ensemble.members]]\nkind = \"knn\"\nn_neighbors = 3\ntrees = 10\nc = 1.0\n").unwrap();
        assert_eq!(s.ensemble.members[0].n_neighbors, 3);
        let s = Settings::parse("[[ensemble.members]]\nkind = \"forest\"\nfeature_fraction = 0.5\n").unwrap();
        assert_eq!(s.ensemble.members[0].kind, crate::compute::ensemble::MemberKind::Forest);
    }

    #[test]
    fn older_exports_and_typed_defaults_still_load() {
        // An export of before the rule: every field for every member, a
        // logistic member keeping a forest's trees, seed and old fraction.
        let old = format!(
            "{}\n[[ensemble.members]]\nkind = \"logistic\"\ntrees = 20\nseed = 1\nfeature_fraction = 0.5\nc = 0.5\n",
            export::EXPORT_HEADER
        );
        let s = Settings::parse(&old).unwrap();
        assert_eq!((s.ensemble.members[0].c, s.ensemble.members[0].trees), (0.5, 20));
        // By hand: an integer for a float default, and an old fraction at its value, are defaults only if equal.
        assert!(Settings::parse("[[ensemble.members]]\nkind = \"knn\"\nc = 1\n").is_ok());
        let e = Settings::parse("[[ensemble.members]]\nkind = \"logistic\"\nfeature_fraction = 0.5\n").unwrap_err();
        assert!(e.message.contains("feature_fraction") && e.line == Some(3), "{e}");
    }

    #[test]
    fn export_writes_each_member_only_the_keys_its_kind_reads() {
        let mut s = Settings::default();
        let knn = crate::compute::ensemble::BUILTIN_KINDS.iter().copied().find(|k| k.name() == "knn").unwrap();
        // A forest turned into kNN in the pane keeps its trees in memory.
        s.ensemble.members[0].kind = knn;
        s.ensemble.members[0].trees = 77;
        s.ensemble.members[0].n_neighbors = 7;
        let text = s.to_toml(None, None, None);
        let t: toml::Table = text.parse().unwrap();
        let first = t["ensemble"]["members"][0].as_table().unwrap();
        let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["kind", "n_neighbors", "neighbor_weights", "weight"], "{text}");
        let back = Settings::parse(&text).unwrap();
        let fit_keys = |s: &Settings| s.ensemble.members.iter().map(|m| m.fit_key()).collect::<Vec<_>>();
        assert_eq!(fit_keys(&back), fit_keys(&s));
        assert_eq!(back.ensemble.members[0].weight, s.ensemble.members[0].weight);
    }

    #[test]
    fn relative_weights_paths_are_relative_to_the_settings_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.toml");
        std::fs::write(&file, "[weights]\nsource = \"w.npy\"\n").unwrap();
        let s = Settings::load(&file).unwrap();
        assert_eq!(Path::new(&s.weights.source), dir.path().join("w.npy"));
        let exported = Settings::parse(&s.portable().to_toml(None, None, None)).unwrap();
        assert!(Path::new(&exported.weights.source).is_absolute());
    }

    #[test]
    fn a_missing_weights_file_is_found_before_loading() {
        let mut w = WeightsConfig { source: "/no/such/w.safetensors".into(), ..WeightsConfig::default() };
        assert!(w.check().unwrap_err().to_string().contains("/no/such/w.safetensors"));
        assert_eq!(WeightsConfig::default().check().unwrap(), None);
    }

    #[test]
    fn error_message_names_the_file() {
        let e = Settings::load(Path::new("/no/such/settings.toml")).unwrap_err();
        assert!(e.to_string().starts_with("settings file /no/such/settings.toml: cannot read it"), "{e}");
    }

    #[test]
    fn derived_section_holds_pytorch_parameters() {
        let s = Settings::default();
        let a = analyze(&s.weights.load().unwrap(), &s.quant).unwrap();
        let text = s.to_toml(Some(&a), None, None);
        let t: toml::Table = text.parse().unwrap();
        let d = t["derived"].as_table().unwrap();
        assert_eq!(d["quant_min"].as_integer(), Some(-128));
        assert_eq!(d["qscheme"].as_str(), Some("torch.per_tensor_affine"));
        let scale = d["scale"].as_array().unwrap()[0].as_float().unwrap();
        assert_eq!(scale as f32, a.channels[0].params.scale);
        assert!(d["pytorch"].as_str().unwrap().starts_with("torch.fake_quantize_per_tensor_affine(w, "));
        assert!(t["metrics"]["mse"].as_float().unwrap() > 0.0);
    }
}
