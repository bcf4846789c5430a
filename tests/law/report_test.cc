// Reports: gnuplot runs without a shell and every promised file is written.
#include "law/report.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/test_util.h"

namespace perflaw::law {
namespace {

using perflaw::testing::TempDir;

std::vector<Observation> Rows(const std::string& dataset) {
  auto form = std::move(MakeForm("performance")).value();
  const std::vector<double> theta = {0.05, -1.0, 0.08, -2.0 / 3.0, 16.0, 0.3};
  std::vector<Observation> rows;
  int k = 0;
  for (double n : {4, 8, 12, 16, 24, 32}) {
    for (double d : {25, 50, 75, 100}) {
      Observation o;
      o.dataset = dataset;
      o.max_seq_len = 50;
      o.metric = "HR@10";
      o.layers = n;
      o.d_model = d;
      o.value = form->Eval(theta.data(), o, nullptr) + 0.002 * ((k++ % 5) - 2);
      rows.push_back(o);
    }
  }
  return rows;
}

TEST(ReportTest, WritesPlotsAndMarkdown) {
  TempDir dir;
  StudyOptions so;
  so.fit.bootstrap = 20;
  so.fit.starts = 100;
  // A quote and a gnuplot escape in the dataset name must not break (or inject into) the script.
  auto study = RunStudy(Rows("it's_a \\ test"), so);
  ASSERT_TRUE(study.ok()) << study.status().message();
  ReportOptions ro;
  ro.out_dir = dir.File("out");
  auto written = WriteReport(*study, ro);
  ASSERT_TRUE(written.ok()) << written.status().message();
  for (const char* name : {"report.md", "pred_vs_obs.png", "pred_vs_obs.svg", "g01_p01_surface.png",
                           "g01_p01_surface.svg", "g01_p01_curves.png", "g01_p01_curves.svg"}) {
    auto path = std::filesystem::path(ro.out_dir) / name;
    ASSERT_TRUE(std::filesystem::exists(path)) << name;
    EXPECT_GT(std::filesystem::file_size(path), 1000u) << name;
  }
  std::ifstream md(std::filesystem::path(ro.out_dir) / "report.md");
  std::stringstream ss;
  ss << md.rdbuf();
  EXPECT_NE(ss.str().find("R² LOO"), std::string::npos);
  EXPECT_NE(ss.str().find("closed-form N*"), std::string::npos);
  std::ifstream svg(std::filesystem::path(ro.out_dir) / "g01_p01_curves.svg");
  std::stringstream sv;
  sv << svg.rdbuf();
  EXPECT_NE(sv.str().find("it's_a"), std::string::npos);
}

TEST(ReportTest, MissingGnuplotIsAClearError) {
  Status st = RunGnuplot("perflaw-no-such-gnuplot", "/dev/null");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("cannot run 'perflaw-no-such-gnuplot'"), std::string::npos);
  ReportOptions ro;
  std::string why;
  EXPECT_FALSE(ro.IsValid(&why));
}

// Line figures: empty series are left out without shifting the data blocks of the others, the
// rings of marked series share one legend entry, and the script runs where its files are.
TEST(ReportTest, LineFigureDrawsEverySeriesAndOneRingEntry) {
  TempDir dir;
  LineFigure f;
  f.title = "curves of it's_a";
  f.mark_label = "still improving";
  f.panels = {{"loss", "epoch", "loss", {{"L1 d8", {{1, 2.0}, {2, 1.5}}, false}}},
              {"valid",
               "epoch",
               "NDCG@10",
               {{"L1 d8", {{1, 0.1}, {2, 0.2}}, true},
                {"empty", {}, true},
                {"L2 d8", {{1, 0.3}, {2, 0.25}}, false},
                {"L4 d8", {{1, 0.1}, {2, 0.4}}, true}}}};
  StatusOr<std::vector<std::string>> w = WriteLineFigure(f, dir.path().string(), "fig");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_EQ(w->size(), 4u);
  for (const std::string& p : *w) EXPECT_TRUE(std::filesystem::exists(p)) << p;
  auto read = [&](const char* name) {
    std::ifstream in(dir.path() / name);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  const std::string gp = read("fig.gp"), svg = read("fig.svg");
  EXPECT_EQ(gp.find(dir.path().string()), std::string::npos) << "the script names files relatively";
  EXPECT_NE(gp.find("'fig.dat' index 3 using 1:2 with linespoints"), std::string::npos) << gp;
  EXPECT_EQ(gp.find("index 4"), std::string::npos) << gp;  // 4 non-empty series: blocks 0-3
  EXPECT_NE(gp.find("index 3 every ::1::1 using 1:2 with points pt 6"), std::string::npos) << gp;
  for (const char* text : {"curves of it's_a", "L2 d8", "L4 d8", "still improving", "NDCG@10"})
    EXPECT_NE(svg.find(text), std::string::npos) << text;
  EXPECT_EQ(svg.find(">empty<"), std::string::npos);
  size_t rings = 0;
  for (size_t at = svg.find(">still improving<"); at != std::string::npos;
       at = svg.find(">still improving<", at + 1))
    ++rings;
  EXPECT_EQ(rings, 1u);
}

}  // namespace
}  // namespace perflaw::law
