// What a run does, decided before anything is written: the sweep parsed from its YAML (perflaw
// run) or from the YAML its database recorded (perflaw resume), and the database it writes.
#pragma once

#include <string>

#include "apen/status.h"
#include "orchestrator/sweep/sweep.h"

namespace perflaw::orchestrator {

// What is run, decided before anything is written.
struct RunPlan {
  Sweep sweep;
  std::string db_path;        // the database written (--db, or the sweep's db:)
  bool resume = false;        // continue the database's latest sweep instead of recording a new one
  bool retry_failed = false;  // resume: FAILED points get a fresh failure budget
  std::string law_group_by;   // law::StudyOptions::group_by of law.group_by ("none": [])
  bool planned = false;       // false until PlanRun / PlanResume succeeded
};

// Parses and validates SWEEP.yaml (as `perflaw sweep check`) and the law section; `db_override`
// replaces the sweep's db: when not empty. Writes nothing. Bad input: InvalidArgument / NotFound.
StatusOr<RunPlan> PlanRun(const std::string& sweep_path, const std::string& db_override);

// Reads the latest sweep's YAML back from DB (read-only) and parses it as it was parsed when it
// was recorded (relative paths against the directory recorded with it). Writes nothing.
StatusOr<RunPlan> PlanResume(const std::string& db_path, bool retry_failed);

// The law: section as law::StudyOptions::group_by ("dataset,max_seq_len", "max_seq_len", "none").
// Only `dataset` and `data.max_seq_len` can be fitted separately; other axes are an error.
StatusOr<std::string> LawGroupBy(const LawSpec& law);

// A database a run would write into must be a sound perflaw database (or not exist yet): writing
// into a corrupt file would bury what can still be recovered from it.
Status CheckWritableDatabase(const std::string& db_path);

// The sweep's YAML as the database records it: with its base directory in a closing comment, so
// that resume resolves relative paths as the run did.
std::string YamlForRecord(const Sweep& sweep);

// The base_dir recorded by YamlForRecord, or "" when the YAML was stored by something else.
std::string RecordedBaseDir(const std::string& yaml);

}  // namespace perflaw::orchestrator
