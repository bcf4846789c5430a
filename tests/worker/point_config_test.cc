#include "worker/point_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

namespace perflaw::worker {
namespace {

StatusOr<PointConfig> Parse(const std::string& text) { return ParsePointConfig(text, "p.json"); }

std::string ErrorOf(const std::string& text) {
  StatusOr<PointConfig> c = Parse(text);
  EXPECT_FALSE(c.ok()) << text;
  EXPECT_EQ(c.status().code(), Status::Code::kInvalidArgument);
  return c.status().message();
}

TEST(PointConfigTest, MinimalPointGetsDocumentedDefaults) {
  StatusOr<PointConfig> c = Parse(R"({"data": {"path": "x.txt"}})");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->data.path, "x.txt");
  EXPECT_EQ(c->data.max_seq_len, 50u);
  EXPECT_EQ(c->model.type, ModelType::kSasrec);
  EXPECT_EQ(c->model.layers, 2u);
  EXPECT_EQ(c->model.d_model, 50u);
  EXPECT_EQ(c->model.heads, 1u);
  EXPECT_EQ(c->model.norm, NormPlacement::kPost);
  EXPECT_EQ(c->train.epochs, 20u);
  EXPECT_EQ(c->train.batch_size, 128u);
  EXPECT_DOUBLE_EQ(c->train.beta2, 0.98);
  EXPECT_EQ(c->eval.Protocol(), "full");
  EXPECT_EQ(c->eval.ks, (std::vector<uint32_t>{10, 50, 200}));
  EXPECT_EQ(c->device, Device::kAuto);
  EXPECT_EQ(c->train.precision, Precision::kAuto);
}

TEST(PointConfigTest, ParsesEverySection) {
  StatusOr<PointConfig> c = Parse(R"({
    "data": {"path": "d.inter", "format": "atomic", "max_seq_len": 200, "user_fraction": 0.5,
             "subsample_seed": 7, "min_rating": 4, "k_core": 5, "drop_repeats": true},
    "model": {"type": "sasrec", "layers": 4, "d_model": 75, "heads": 5, "dropout": 0.1,
              "ffn_multiplier": 4, "norm": "pre"},
    "train": {"epochs": 3, "batch_size": 64, "optimizer": "adamw", "lr": 0.01, "betas": [0.8, 0.99],
              "weight_decay": 0.1, "embedding_weight_decay": 0.01, "warmup": 10, "lr_schedule": "cosine",
              "patience": 2, "clip_norm": 1.0, "packing": false, "precision": "bf16"},
    "eval": {"protocol": "sampled:2499", "users": 10000, "ks": [10, 20], "exclude_history": false, "seed": 3},
    "seed": 42, "device": "cpu", "threads": 2})");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->data.format, apen::Format::kAtomic);
  EXPECT_EQ(c->data.max_seq_len, 200u);
  ASSERT_TRUE(c->data.min_rating.has_value());
  EXPECT_DOUBLE_EQ(*c->data.min_rating, 4.0);
  EXPECT_EQ(c->model.heads, 5u);
  EXPECT_EQ(c->model.norm, NormPlacement::kPre);
  EXPECT_EQ(c->train.optimizer, OptimizerType::kAdamW);
  EXPECT_DOUBLE_EQ(c->train.beta1, 0.8);
  EXPECT_EQ(c->train.lr_schedule, LrSchedule::kCosine);
  EXPECT_FALSE(c->train.packing);
  EXPECT_EQ(c->train.precision, Precision::kBf16);
  EXPECT_EQ(c->eval.sampled_negatives, 2499u);
  EXPECT_EQ(c->eval.Protocol(), "sampled:2499");
  EXPECT_FALSE(c->eval.exclude_history);
  EXPECT_EQ(c->seed, 42u);
  EXPECT_EQ(c->threads, 2u);
}

TEST(PointConfigTest, CanonicalJsonRoundTrips) {
  StatusOr<PointConfig> c = Parse(R"({"data": {"path": "x"}, "model": {"d_model": 25, "heads": 5},
                                      "eval": {"protocol": "sampled:100"}})");
  ASSERT_TRUE(c.ok());
  nlohmann::json j = PointConfigToJson(*c);
  StatusOr<PointConfig> again = Parse(j.dump());
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(PointConfigToJson(*again), j);
}

TEST(PointConfigTest, FromJsonInMemoryEqualsParsingItsText) {
  const std::string text = R"({"data": {"path": "x"}, "model": {"d_model": 25, "heads": 5},
                               "train": {"epochs": 3}})";
  StatusOr<PointConfig> from_text = Parse(text);
  StatusOr<PointConfig> from_json = PointConfigFromJson(nlohmann::json::parse(text), "p.json");
  ASSERT_TRUE(from_text.ok() && from_json.ok());
  EXPECT_EQ(PointConfigToJson(*from_json), PointConfigToJson(*from_text));
  StatusOr<PointConfig> bad = PointConfigFromJson(
      nlohmann::json::parse(R"({"data": {"path": "x"}, "model": {"layer": 2}})"), "p.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "p.json: unknown key model.layer (did you mean model.layers?)");
}

TEST(PointConfigTest, UnknownKeysAreErrorsWithSuggestions) {
  EXPECT_EQ(ErrorOf(R"({"data": {"path": "x"}, "model": {"layer": 2}})"),
            "p.json: unknown key model.layer (did you mean model.layers?)");
  EXPECT_EQ(ErrorOf(R"({"data": {"path": "x"}, "trian": {}})"),
            "p.json: unknown key trian (did you mean train?)");
  EXPECT_NE(ErrorOf(R"({"data": {"path": "x"}, "eval": {"zzzzzz": 1}})")
                .find("unknown key eval.zzzzzz (known keys:"),
            std::string::npos);
}

TEST(PointConfigTest, WrongTypesNameTheKey) {
  EXPECT_EQ(ErrorOf(R"({"data": {"path": "x"}, "train": {"epochs": "ten"}})"),
            "p.json: train.epochs must be a non-negative integer, got \"ten\"");
  EXPECT_EQ(ErrorOf(R"({"data": {"path": "x"}, "train": {"epochs": 1.5}})"),
            "p.json: train.epochs must be a non-negative integer, got 1.5");
  EXPECT_EQ(ErrorOf(R"({"data": {"path": "x"}, "model": {"layers": -1}})"),
            "p.json: model.layers must be a non-negative integer, got -1");
  EXPECT_EQ(ErrorOf(R"({"data": {"path": "x"}, "model": {"dropout": true}})"),
            "p.json: model.dropout must be a number, got true");
  EXPECT_EQ(ErrorOf(R"({"data": {"path": "x"}, "model": []})"),
            "p.json: model must be an object, got []");
  EXPECT_EQ(ErrorOf(R"({"data": {"path": "x"}, "train": {"betas": [0.9]}})"),
            "p.json: train.betas must be an array of two numbers, got [0.9]");
}

TEST(PointConfigTest, BadValuesNameTheKey) {
  EXPECT_EQ(ErrorOf(R"({"data": {"path": "x"}, "model": {"d_model": 50, "heads": 3}})"),
            "p.json: model.heads (3) must divide model.d_model (50)");
  EXPECT_EQ(ErrorOf(R"({"data": {"path": "x"}, "model": {"type": "gpt"}})"),
            "p.json: model.type must be one of sasrec, llama, hstu, got \"gpt\"");
  EXPECT_EQ(ErrorOf(R"({"data": {"path": "x"}, "model": {"dropout": 1.0}})"),
            "p.json: model.dropout must be in [0, 1), got 1");
  EXPECT_EQ(
      ErrorOf(R"({"data": {"path": "x"}, "eval": {"protocol": "sampled:0"}})"),
      "p.json: eval.protocol must be \"full\" or \"sampled:K\" with K >= 1, got \"sampled:0\"");
  EXPECT_EQ(ErrorOf(R"({"data": {"path": "x"}, "eval": {"protocol": "sampled"}})"),
            "p.json: eval.protocol must be \"full\" or \"sampled:K\" with K >= 1, got \"sampled\"");
  EXPECT_EQ(ErrorOf(R"({"data": {"path": "x"}, "eval": {"ks": [50]}})"),
            "p.json: eval.ks must include 10 (validation NDCG@10 selects the checkpoint)");
  EXPECT_EQ(
      ErrorOf(R"({"data": {"path": "x"}, "train": {"negatives": 4}})"),
      "p.json: train.negatives must be 1 with train.loss \"bce\" (the SASRec objective), got 4");
  EXPECT_EQ(ErrorOf(R"({"data": {"path": "x"}, "train": {"lr": 0}})"),
            "p.json: train.lr must be in (0, 10], got 0");
  EXPECT_EQ(ErrorOf(R"({"data": {"path": "x"}, "train": {"lr": 1e300}})"),
            "p.json: train.lr must be in (0, 10], got 1e+300");
  EXPECT_EQ(ErrorOf(R"({"data": {"path": "x"}, "train": {"loss": "mse"}})"),
            "p.json: train.loss must be one of bce, sampled_softmax, got \"mse\"");
  EXPECT_TRUE(
      Parse(R"({"data": {"path": "x"}, "train": {"loss": "sampled_softmax", "negatives": 64}})")
          .ok());
  EXPECT_EQ(ErrorOf(R"({"data": {"path": "x", "max_seq_len": 0}})"),
            "p.json: data.max_seq_len must be >= 1 for training, got 0");
  EXPECT_EQ(ErrorOf(R"({"data": {"path": "x", "format": "xml"}})"),
            "p.json: data.format must be one of auto, sasrec, atomic, movielens, csv, binary, got "
            "\"xml\"");
  EXPECT_NE(ErrorOf(R"({"data": {"path": "x", "user_fraction": 0}})").find("p.json: data."),
            std::string::npos);
  EXPECT_EQ(ErrorOf(R"({"data": {"path": "x"}, "device": "tpu"})"),
            "p.json: device must be one of auto, cpu, cuda, got \"tpu\"");
  EXPECT_EQ(ErrorOf(R"({"data": {"path": "x"}, "train": {"min_epochs": 3}})"),
            "p.json: train.min_epochs (3) needs train.patience > 0: without early stopping every "
            "run trains train.epochs epochs");
  EXPECT_EQ(
      ErrorOf(R"({"data": {"path": "x"}, "train": {"epochs": 5, "patience": 2, "min_epochs": 6}})"),
      "p.json: train.min_epochs (6) must be <= train.epochs (5)");
  EXPECT_EQ(ErrorOf(R"({"data": {"path": "x"}, "train": {"precision": "fp16"}})"),
            "p.json: train.precision must be one of auto, fp32, bf16, got \"fp16\"");
  EXPECT_EQ(ErrorOf(R"({"model": {}})"), "p.json: missing section data (with at least data.path)");
  EXPECT_EQ(ErrorOf(R"({"data": {}})"), "p.json: missing key data.path");
}

TEST(PointConfigTest, MalformedJsonSaysWhere) {
  std::string msg = ErrorOf("{\n  \"data\": {\"path\": \"x\",}\n}");
  EXPECT_EQ(msg.rfind("p.json: parse error at line 2", 0), 0u) << msg;
  // A number no double holds is an error, not an abort (nlohmann's out_of_range).
  msg = ErrorOf(R"({"data": {"path": "x"}, "train": {"lr": 1e999}})");
  EXPECT_EQ(msg.rfind("p.json: number overflow parsing '1e999'", 0), 0u) << msg;
  // A key given twice would silently keep the last value.
  EXPECT_EQ(ErrorOf(R"({"data": {"path": "x"}, "train": {"lr": 0.1, "epochs": 2, "lr": 0.2}})"),
            "p.json: key train.lr is given twice; keep one");
  EXPECT_EQ(ErrorOf(R"({"data": {"path": "x"}, "seed": 1, "seed": 1})"),
            "p.json: key seed is given twice; keep one");
  EXPECT_TRUE(Parse(R"({"data": {"path": "x"}, "train": {"lr": 0.1}, "model": {"lr": 1}})")
                  .status()
                  .message()
                  .find("twice") == std::string::npos);
  EXPECT_EQ(ErrorOf("[1, 2]"), "p.json: the point must be a JSON object");
}

TEST(PointConfigTest, OptionStructsValidateThemselves) {
  std::string why;
  ModelConfig m;
  EXPECT_TRUE(m.IsValid(&why));
  m.d_model = 25;
  m.heads = 5;
  EXPECT_TRUE(m.IsValid(&why));
  m.heads = 2;
  EXPECT_FALSE(m.IsValid(&why));
  EXPECT_EQ(why, "model.heads (2) must divide model.d_model (25)");
  TrainConfig t;
  t.beta2 = 1.0;
  EXPECT_FALSE(t.IsValid(&why));
  EXPECT_EQ(why, "train.betas must both be in [0, 1), got [0.9, 1]");
}

}  // namespace
}  // namespace perflaw::worker

namespace perflaw::worker {
namespace {

TEST(PointConfigTest, ExamplePointsParse) {
  const std::filesystem::path dir =
      std::filesystem::path(PERFLAW_SOURCE_DIR) / "configs" / "points";
  int seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    StatusOr<PointConfig> c = LoadPointConfig(entry.path().string());
    EXPECT_TRUE(c.ok()) << c.status().message();
    ++seen;
  }
  EXPECT_GE(seen, 3);
}

}  // namespace
}  // namespace perflaw::worker
