#include "orchestrator/sweep/paths.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>

namespace perflaw::orchestrator {

namespace fs = std::filesystem;

// `p` against the sweep file's folder when relative, normalised.
std::string ResolveAgainst(const std::string& base_dir, const std::string& p) {
  fs::path path(p);
  if (path.is_relative()) path = fs::path(base_dir) / path;
  return path.lexically_normal().string();
}

// The results database of a sweep: its `db:` or NAME.db, against the sweep file's folder.
std::string DbPathOf(const std::string& name, const std::optional<std::string>& db,
                     const std::string& base_dir) {
  return ResolveAgainst(base_dir, db.value_or(name + ".db"));
}

std::optional<std::string> DeclaredDbPath(const std::string& yaml_text,
                                          const std::string& base_dir) {
  try {
    const YAML::Node root = YAML::Load(yaml_text);
    if (!root.IsMap() || !root["name"] || !root["name"].IsScalar()) return std::nullopt;
    std::optional<std::string> db;
    if (root["db"]) {
      if (!root["db"].IsScalar()) return std::nullopt;
      db = root["db"].as<std::string>();
    }
    return DbPathOf(root["name"].as<std::string>(), db, base_dir);
  } catch (const YAML::Exception&) {
    return std::nullopt;
  }
}

}  // namespace perflaw::orchestrator
