// Point identity: SHA-256, canonical configurations and point ids.
#include <gtest/gtest.h>

#include <string>

#include "tests/orchestrator/sweep/sweep_test_util.h"

namespace perflaw::orchestrator::sweep_test {
namespace {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // Two blocks (56 bytes: the padding spills into a second block).
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

// ---- Point identity ----

TEST(PointIdentity, KeyOrderDefaultsAndNumberSpellingDoNotMatter) {
  StatusOr<Sweep> a = Parse(SynthSweep("grid:\n  model.layers: [1, 2]\n"));
  StatusOr<Sweep> b = Parse(
      "eval: {ks: [10], protocol: \"sampled:20\"}\n"
      "train: {lr: 1e-3, epochs: 2, batch_size: 128}\n"  // lr and batch_size are the defaults
      "grid:\n  model.layers: [2, 1]\n"
      "model: {dropout: 0.20, heads: 1}\n"
      "data:\n  synthetic: {seed: 3, mean_length: 8.0, items: 30, users: 50}\n  max_seq_len: 50\n"
      "name: other-name\n"
      "device: cuda\nthreads: 3\n"  // where a point runs is not part of its identity
      "resources: {ranks_per_point: 2, workers: 4}\n"
      "policy: {max_attempts: 7}\n"
      "db: elsewhere.db\n");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(Ids(*a), Ids(*b));
}

TEST(PointIdentity, ResultAffectingChangesChangeTheId) {
  const std::string base_id = Parse(SynthSweep(""))->points.at(0).id;
  for (const std::string& change :
       {std::string("train: {epochs: 3}\n"), std::string("seed: 1\n"),
        std::string("model: {layers: 3}\n"), std::string("eval: {protocol: full, ks: [10]}\n"),
        std::string("data: {synthetic: {users: 51}}\n")}) {
    std::string text = SynthSweep("");
    // Replace the section the change names (YAML keys must be unique).
    std::string section = change.substr(0, change.find(':'));
    size_t at = text.find("\n" + section + ":");
    if (section == "data")
      text = "name: t\ndata:\n  synthetic: {users: 51, items: 30, mean_length: 8, seed: 3}\n" +
             text.substr(text.find("train:"));
    else if (at != std::string::npos)
      text.replace(at + 1, text.find('\n', at + 1) - at, change);
    else
      text += change;
    StatusOr<Sweep> s = Parse(text);
    ASSERT_TRUE(s.ok()) << change << ": " << s.status().ToString();
    EXPECT_NE(s->points.at(0).id, base_id) << change;
  }
}

TEST(PointIdentity, ExtendedSweepKeepsOldIds) {
  StatusOr<Sweep> small =
      Parse(SynthSweep("grid:\n  model.layers: [1, 2]\n  model.d_model: [8, 16]\n"));
  StatusOr<Sweep> big = Parse(SynthSweep(
      "grid:\n  model.layers: [1, 2, 4]\n  model.d_model: [8, 16]\n  seed: [0, 1]\n"));  // seed 0:
                                                                                         // the
                                                                                         // default
  ASSERT_TRUE(small.ok() && big.ok());
  std::set<std::string> old_ids = Ids(*small), new_ids = Ids(*big);
  EXPECT_EQ(new_ids.size(), 12u);
  for (const auto& id : old_ids) EXPECT_TRUE(new_ids.count(id)) << id;
}

// Keys added to the point configuration later (train.precision, train.min_epochs) are left out of
// the identity at their defaults: points of databases written before them keep their ids. The id
// below was computed before either key existed.
TEST(PointIdentity, KeysAddedLaterKeepOldIdsAtTheirDefaults) {
  StatusOr<Sweep> plain = Parse(SynthSweep(""));
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->points.at(0).id, "575b36d79ea1ed4998c6284b2783bba7");
  std::string text = SynthSweep("");
  text.replace(text.find("train: {"), 8, "train: {min_epochs: 0, precision: auto, ");
  StatusOr<Sweep> explicit_defaults = Parse(text);
  ASSERT_TRUE(explicit_defaults.ok()) << explicit_defaults.status().ToString();
  EXPECT_EQ(explicit_defaults->points.at(0).id, plain->points.at(0).id);
  text.replace(text.find("min_epochs: 0"), 13, "min_epochs: 1, patience: 1");
  StatusOr<Sweep> floor = Parse(text);
  ASSERT_TRUE(floor.ok()) << floor.status().ToString();
  EXPECT_NE(floor->points.at(0).id, plain->points.at(0).id);
}

TEST(PointIdentity, FileDataIsIdentifiedByContentNotPath) {
  TempDir dir;
  fs::create_directories(dir.path() / "x");
  dir.Write("a.txt", SasrecText(20));
  dir.Write("x/copy.txt", SasrecText(20));
  dir.Write("other.txt", SasrecText(20, 1));
  auto id_of = [&](const std::string& path) {
    StatusOr<Sweep> s =
        Parse("data: {path: " + path + "}\neval: {ks: [10]}\n", dir.path().string());
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? s->points.at(0).id : "";
  };
  EXPECT_EQ(id_of("a.txt"), id_of("x/copy.txt"));
  EXPECT_NE(id_of("a.txt"), id_of("other.txt"));
}

TEST(PointIdentity, AgreesWithThePointFileForm) {
  StatusOr<Sweep> s = Parse(SynthSweep("grid:\n  model.d_model: [8]\n"));
  ASSERT_TRUE(s.ok());
  const GridPoint& p = s->points[0];
  // The canonical config reparses to itself, so the scheduler can ship it to the worker as is.
  StatusOr<worker::PointConfig> again =
      worker::ParsePointConfig(CanonicalJson(p.config).dump(), "p");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(worker::PointConfigToJson(*again), CanonicalJson(p.config));
  EXPECT_EQ(PointId(worker::PointConfigToJson(*again), s->datasets[0].identity), p.id);
}

}  // namespace
}  // namespace perflaw::orchestrator::sweep_test
