//! The scenario files in `loadtest/scenarios/`: every one parses and resolves to a plan,
//! and the ones the docs promise are there.

use std::path::PathBuf;

use tidegate_loadtest::load::plan::Mode;
use tidegate_loadtest::load::{Overrides, Plan, Scenario};

fn scenario_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{} is readable: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_scenario_parses_and_resolves() {
    let files = scenario_files();
    for file in &files {
        let scenario = Scenario::load(file).unwrap_or_else(|e| panic!("{e}"));
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            scenario.name.as_deref(),
            Some(stem.as_str()),
            "{} names itself after its file",
            file.display()
        );
        let plan = Plan::resolve(scenario, &Overrides::default())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            plan.admin.is_some(),
            "{} samples the admin API",
            file.display()
        );
    }

    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "steady",
        "step-from-zero",
        "spike",
        "priority-overload",
        "cache-hits",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected}.toml is missing: {names:?}"
        );
    }
}

#[test]
fn the_scaling_scenarios_have_the_shape_they_promise() {
    let load = |name: &str| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"));
        Plan::resolve(Scenario::load(&path).unwrap(), &Overrides::default()).unwrap()
    };

    // Step from zero: quiet, a step, quiet again for the scale-down.
    let Mode::Open(schedule) = load("step-from-zero").mode else {
        panic!("step-from-zero is an open loop");
    };
    assert_eq!(schedule.rate_at(1.0), 0.0);
    assert!(schedule.rate_at(10.0) > 0.0);
    assert_eq!(
        schedule.rate_at(schedule.duration().as_secs_f64() - 1.0),
        0.0
    );

    // Priority overload carries a mix.
    assert_eq!(load("priority-overload").priorities.classes().len(), 3);

    // Cache hits is a closed loop.
    assert!(matches!(load("cache-hits").mode, Mode::Closed(_)));
}
