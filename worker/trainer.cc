#include "worker/trainer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "worker/batches.h"
#include "worker/evaluator.h"
#include "worker/fused_adam.h"
#include "worker/model.h"
#include "worker/rng.h"
#include "worker/threads.h"

namespace perflaw::worker {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kDropoutTag = 0x64726f70ULL;    // "drop"
constexpr size_t kBucketFloats = size_t{4} << 20;  // 16 MiB gradient buckets for all-reduce

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// What tells one file at a path from a later one there.
struct FileId {
  ino_t ino = 0;
  time_t mtime_s = 0;
  long mtime_ns = 0;
  bool operator==(const FileId& o) const {
    return ino == o.ino && mtime_s == o.mtime_s && mtime_ns == o.mtime_ns;
  }
  bool operator!=(const FileId& o) const { return !(*this == o); }
};

// Where the run stands; saved in checkpoints so a resumed run continues exactly.
struct TrainState {
  uint64_t epoch = 0;  // the current epoch, 0-based
  uint64_t batch = 0;  // the next batch of that epoch
  uint64_t step = 0;   // optimizer steps done
  double epoch_loss_sum = 0.0;
  uint64_t epoch_targets = 0;
  double epoch_seconds = 0.0;
  double epoch_cpu_seconds = 0.0;
  uint64_t tokens_seen = 0;
  double train_seconds = 0.0;
  double best_ndcg = -1.0;
  uint32_t best_epoch = 0;
  uint32_t since_best = 0;
  bool stopped_early = false;
  std::vector<EpochRecord> records;

  json ToJson() const {
    json recs = json::array();
    for (const auto& r : records) recs.push_back(EpochRecordToJson(r));
    return {{"epoch", epoch},
            {"batch", batch},
            {"step", step},
            {"epoch_loss_sum", epoch_loss_sum},
            {"epoch_targets", epoch_targets},
            {"epoch_seconds", epoch_seconds},
            {"epoch_cpu_seconds", epoch_cpu_seconds},
            {"tokens_seen", tokens_seen},
            {"train_seconds", train_seconds},
            {"best_ndcg", best_ndcg},
            {"best_epoch", best_epoch},
            {"since_best", since_best},
            {"stopped_early", stopped_early},
            {"records", recs}};
  }
  static TrainState FromJson(const json& j) {
    TrainState p;
    p.epoch = j.at("epoch").get<uint64_t>();
    p.batch = j.at("batch").get<uint64_t>();
    p.step = j.at("step").get<uint64_t>();
    p.epoch_loss_sum = j.at("epoch_loss_sum").get<double>();
    p.epoch_targets = j.at("epoch_targets").get<uint64_t>();
    p.epoch_seconds = j.at("epoch_seconds").get<double>();
    p.epoch_cpu_seconds = j.at("epoch_cpu_seconds").get<double>();
    p.tokens_seen = j.at("tokens_seen").get<uint64_t>();
    p.train_seconds = j.at("train_seconds").get<double>();
    p.best_ndcg = j.at("best_ndcg").get<double>();
    p.best_epoch = j.at("best_epoch").get<uint32_t>();
    p.since_best = j.at("since_best").get<uint32_t>();
    p.stopped_early = j.at("stopped_early").get<bool>();
    for (const auto& r : j.at("records")) p.records.push_back(EpochRecordFromJson(r));
    return p;
  }
};

// "auto" is CUDA when LibTorch sees a device. On CUDA the rank takes device local_rank mod the
// devices it sees (one rank per GPU; with CUDA_VISIBLE_DEVICES narrowed per rank, device 0).
Status PickDevice(Device d, int local_rank, torch::Device* out) {
  const bool cuda = torch::cuda::is_available();
  if (d == Device::kCuda && !cuda)
    return Status::FailedPrecondition("device \"cuda\" requested but LibTorch sees no CUDA device");
  if (d == Device::kCuda || (d == Device::kAuto && cuda)) {
    const int devices = static_cast<int>(torch::cuda::device_count());
    *out = torch::Device(torch::kCUDA,
                         static_cast<c10::DeviceIndex>(std::max(0, local_rank) % devices));
  } else {
    *out = torch::Device(torch::kCPU);
  }
  return Status::Ok();
}

// train.precision "auto": bf16 on CUDA (tensor cores), fp32 on CPU (most CPUs have no fast bf16).
bool UseBf16(Precision p, const torch::Device& device) {
  return p == Precision::kBf16 || (p == Precision::kAuto && device.is_cuda());
}

torch::Tensor IndexTensor(const std::vector<int64_t>& v, std::vector<int64_t> shape,
                          const torch::Device& device) {
  torch::Tensor t = torch::from_blob(const_cast<int64_t*>(v.data()), shape, torch::kInt64);
  return device.is_cpu() ? t : t.to(device);  // CPU: the batch outlives the step, no copy needed
}

class Trainer {
 public:
  Trainer(const PointConfig& config, const apen::Dataset& data, const TrainOptions& options,
          PointResult* result)
      : c_(config),
        data_(data),
        opt_(options),
        result_(result),
        coll_(options.collective ? options.collective : &local_) {}

  Status Setup();
  Status Run();

 private:
  enum class EpochEnd { kDone, kDiverged, kStopped };
  std::unique_ptr<torch::optim::Optimizer> MakeOptimizer();
  Status PickCollective();
  Status BroadcastParams();
  EpochEnd TrainEpoch();
  double Step(const Batch& b);  // returns the global loss sum (NaN/Inf on divergence)
  Status AllReduceGrads();
  double LearningRate(uint64_t step) const;
  Status EndEpoch();
  void Finish();
  std::string CheckpointPath() const {
    return (std::filesystem::path(opt_.checkpoint_dir) / "checkpoint.pt").string();
  }
  Status SaveCheckpoint();   // every rank
  Status WriteCheckpoint();  // rank 0's part
  Status LoadCheckpoint();
  // The checkpoint this attempt last loaded or wrote (none before either): another file there was
  // written by a later attempt of the point, which this one must not undo.
  std::optional<FileId> own_checkpoint_;
  bool StopRequested();

  const PointConfig& c_;
  const apen::Dataset& data_;
  const TrainOptions& opt_;
  PointResult* result_;
  LocalCollective local_;
  Collective* coll_;

  torch::Device device_{torch::kCPU};
  std::unique_ptr<TrainSet> train_set_;
  std::optional<TrainBatcher> batcher_;
  std::unique_ptr<Evaluator> evaluator_;
  std::shared_ptr<SequenceModel> model_;
  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> best_params_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  TrainState p_;
  uint64_t total_steps_ = 0;
  std::string error_;  // set when a step fails
};

Status Trainer::Setup() {
  SetComputeThreads(c_.threads);
  PERFLAW_RETURN_IF_ERROR(PickDevice(c_.device, opt_.local_rank, &device_));
  result_->device = device_.str();
  result_->world_size = coll_->size();
  PERFLAW_RETURN_IF_ERROR(PickCollective());
  const uint32_t max_len = static_cast<uint32_t>(c_.data.max_seq_len);
  StatusOr<std::unique_ptr<TrainSet>> set =
      TrainSet::Create(data_.sequences, data_.num_items, max_len);
  if (!set.ok()) return set.status();
  train_set_ = std::move(set).value();
  batcher_.emplace(train_set_.get(), c_.train.batch_size, c_.train.packing, c_.seed, coll_->rank(),
                   coll_->size(), c_.train.negatives);
  StatusOr<std::unique_ptr<Evaluator>> ev =
      Evaluator::Create(train_set_->split(), data_.num_items, max_len, c_.eval);
  if (!ev.ok()) return ev.status();
  evaluator_ = std::move(ev).value();
  evaluator_->set_threads(c_.threads);
  result_->eval_threads = evaluator_->threads(device_);
  if (c_.train.batch_size < static_cast<uint32_t>(coll_->size()))
    return Status::InvalidArgument("train.batch_size (" + std::to_string(c_.train.batch_size) +
                                   ") must be at least the number of data-parallel ranks (" +
                                   std::to_string(coll_->size()) + ")");

  model_ = MakeModel(c_.model, data_.num_items, max_len, c_.seed);
  model_->to(device_);
  model_->set_bf16(UseBf16(c_.train.precision, device_));
  result_->precision = model_->bf16() ? "bf16" : "fp32";
  result_->attention = AttentionKernelName(model_->attention());
  params_ = model_->parameters();
  optimizer_ = MakeOptimizer();
  PERFLAW_RETURN_IF_ERROR(BroadcastParams());
  total_steps_ = uint64_t{c_.train.epochs} * batcher_->BatchesPerEpoch();
  result_->num_users = data_.num_users();
  result_->num_items = data_.num_items;
  result_->num_train_interactions = train_set_->split().NumTrainInteractions();
  result_->params = model_->CountParams();
  if (!opt_.checkpoint_dir.empty() && std::filesystem::exists(CheckpointPath()))
    PERFLAW_RETURN_IF_ERROR(LoadCheckpoint());
  return Status::Ok();
}

std::unique_ptr<torch::optim::Optimizer> Trainer::MakeOptimizer() {
  const TrainConfig& t = c_.train;
  std::vector<std::pair<std::vector<torch::Tensor>, double>> groups = {
      {model_->decay_params, t.weight_decay},
      {model_->no_decay_params, 0.0},
      {model_->embedding_params, t.embedding_weight_decay}};
  if (t.optimizer == OptimizerType::kAdamW) {
    std::vector<torch::optim::OptimizerParamGroup> pg;
    for (auto& [params, wd] : groups) {
      if (params.empty()) continue;
      auto o = std::make_unique<torch::optim::AdamWOptions>(t.lr);
      o->betas({t.beta1, t.beta2}).eps(t.eps).weight_decay(wd);
      pg.emplace_back(params, std::move(o));
    }
    return std::make_unique<FusedAdamW>(pg, torch::optim::AdamWOptions(t.lr));
  }
  std::vector<torch::optim::OptimizerParamGroup> pg;
  for (auto& [params, wd] : groups) {
    if (params.empty()) continue;
    auto o = std::make_unique<torch::optim::AdamOptions>(t.lr);
    o->betas({t.beta1, t.beta2}).eps(t.eps).weight_decay(wd);
    pg.emplace_back(params, std::move(o));
  }
  return std::make_unique<FusedAdam>(pg, torch::optim::AdamOptions(t.lr));
}

// On CUDA in a group, the device collective (NCCL) when the caller provides one: gradients then
// never leave the GPU. Otherwise the host collective, with copies to and from the CPU.
Status Trainer::PickCollective() {
  if (coll_->size() == 1 || !device_.is_cuda() || !opt_.cuda_collective) return Status::Ok();
  StatusOr<Collective*> device_coll = opt_.cuda_collective(device_.index());
  if (!device_coll.ok()) return device_coll.status();
  if ((*device_coll)->size() != coll_->size())
    return Status::Internal("the CUDA collective spans " + std::to_string((*device_coll)->size()) +
                            " ranks, the group " + std::to_string(coll_->size()));
  coll_ = *device_coll;
  return Status::Ok();
}

// The buffer a collective works on for `t` (fp32): the tensor itself where the collective takes
// its memory (host tensors on CPU, device tensors with NCCL), else a contiguous host copy.
torch::Tensor CollectiveBuffer(const torch::Tensor& t, const Collective& coll) {
  const bool in_place = coll.device_buffers() ? t.is_cuda() : t.is_cpu();
  return in_place ? t.contiguous() : t.to(torch::kCPU).contiguous();
}

// Every rank starts from rank 0's parameters.
Status Trainer::BroadcastParams() {
  if (coll_->size() == 1) return Status::Ok();
  torch::NoGradGuard guard;
  for (torch::Tensor& p : params_) {
    torch::Tensor buffer = CollectiveBuffer(p.detach(), *coll_);
    PERFLAW_RETURN_IF_ERROR(coll_->Broadcast(buffer.data_ptr<float>(), buffer.numel(), 0));
    if (buffer.data_ptr() != p.data_ptr()) p.copy_(buffer);  // a host copy went out
  }
  return Status::Ok();
}

double Trainer::LearningRate(uint64_t step) const {
  const TrainConfig& t = c_.train;
  if (step < t.warmup) return t.lr * static_cast<double>(step + 1) / t.warmup;
  if (t.lr_schedule == LrSchedule::kConstant) return t.lr;
  const double span = static_cast<double>(
      std::max<uint64_t>(1, total_steps_ - std::min<uint64_t>(total_steps_, t.warmup)));
  const double progress = std::min(1.0, static_cast<double>(step - t.warmup) / span);
  return t.lr * 0.5 * (1.0 + std::cos(M_PI * progress));
}

// Whether to stop before the next step. Ranks may see a signal at different steps, so they agree on
// it (any rank's request stops all of them at the same step).
bool Trainer::StopRequested() {
  bool local = (opt_.stop && opt_.stop->load()) ||
               (opt_.stop_before_step > 0 && p_.step + 1 >= opt_.stop_before_step);
  if (coll_->size() == 1) return local;
  double any = local ? 1.0 : 0.0;
  if (!coll_->AllReduceSum(&any, 1).ok()) return true;
  return any > 0.0;
}

// Sums the gradients over ranks in flat buckets (undefined gradients count as zeros).
Status Trainer::AllReduceGrads() {
  if (coll_->size() == 1) return Status::Ok();
  torch::NoGradGuard guard;
  size_t i = 0;
  while (i < params_.size()) {
    size_t j = i, n = 0;
    std::vector<torch::Tensor> flat;
    while (j < params_.size() && (j == i || n + params_[j].numel() <= kBucketFloats)) {
      torch::Tensor g = params_[j].grad();
      flat.push_back(g.defined() ? g.reshape({-1})
                                 : torch::zeros({params_[j].numel()}, params_[j].options()));
      n += params_[j].numel();
      ++j;
    }
    torch::Tensor bucket = CollectiveBuffer(torch::cat(flat), *coll_);
    PERFLAW_RETURN_IF_ERROR(coll_->AllReduceSum(bucket.data_ptr<float>(), bucket.numel()));
    bucket = bucket.to(device_);
    int64_t offset = 0;
    for (size_t k = i; k < j; ++k) {
      const int64_t m = params_[k].numel();
      params_[k].mutable_grad() = bucket.narrow(0, offset, m).view(params_[k].sizes()).clone();
      offset += m;
    }
    i = j;
  }
  return Status::Ok();
}

double Trainer::Step(const Batch& b) {
  model_->train();
  model_->ReseedDropout(
      Seed({c_.seed, kDropoutTag, p_.step, static_cast<uint64_t>(coll_->rank())}));
  const int64_t t = static_cast<int64_t>(b.target_index.size());
  ModelInput in{IndexTensor(b.items, {b.rows, b.len}, device_),
                IndexTensor(b.positions, {b.rows, b.len}, device_),
                IndexTensor(b.segments, {b.rows, b.len}, device_)};
  // The item table's rows for the input, the targets and their negatives in one gather, so its
  // gradient is built in one pass (GatherRows).
  const int64_t k = c_.train.negatives, inputs = b.rows * b.len;
  torch::Tensor ids = torch::cat({in.items.reshape(-1), IndexTensor(b.positives, {t}, device_),
                                  IndexTensor(b.negatives, {t * k}, device_)});
  std::vector<torch::Tensor> rows = GatherRows(model_->ItemTable(), ids, /*padding_row0=*/true)
                                        .split_with_sizes({inputs, t, t * k});
  const int64_t d = rows[0].size(1);
  in.item_vectors = rows[0].view({b.rows, b.len, d});
  torch::Tensor h = model_->Hidden(in);  // fp32 whatever the precision: the loss is fp32
  torch::Tensor hidden =
      h.reshape({-1, d}).index_select(0, IndexTensor(b.target_index, {t}, device_));
  torch::Tensor pos = (rows[1] * hidden).sum(-1);  // [T]
  torch::Tensor neg =
      torch::bmm(rows[2].view({t, k, d}), hidden.unsqueeze(2)).squeeze(2);  // [T, K]
  torch::Tensor loss_sum;
  if (c_.train.loss == LossType::kBce) {
    // -log sigmoid(pos) - log(1 - sigmoid(neg))
    loss_sum = torch::softplus(-pos).sum() + torch::softplus(neg).sum();
  } else {
    // Cross-entropy of the positive against itself and its K negatives.
    loss_sum = (torch::logsumexp(torch::cat({pos.unsqueeze(1), neg}, 1), 1) - pos).sum();
  }
  (loss_sum / static_cast<double>(b.global_targets)).backward();
  double sums[2] = {loss_sum.item<double>(), 0.0};
  Status st = coll_->AllReduceSum(sums, 1);
  if (st.ok()) st = AllReduceGrads();
  if (!st.ok()) {
    error_ = st.message();
    return std::nan("");
  }
  if (!std::isfinite(sums[0])) return sums[0];
  if (c_.train.clip_norm > 0) torch::nn::utils::clip_grad_norm_(params_, c_.train.clip_norm);
  const double lr = LearningRate(p_.step);
  for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
  optimizer_->step();
  model_->zero_grad(/*set_to_none=*/true);
  return sums[0];
}

Trainer::EpochEnd Trainer::TrainEpoch() {
  const double cpu_start = ProcessCpuSeconds();
  struct CpuTimer {  // adds this call's CPU time on every exit path
    double start;
    double* total;
    ~CpuTimer() { *total += ProcessCpuSeconds() - start; }
  } cpu_timer{cpu_start, &p_.epoch_cpu_seconds};
  BatchPrefetcher prefetch(&*batcher_, p_.epoch, p_.batch);
  while (std::optional<Batch> b = prefetch.Next()) {
    if (StopRequested()) return EpochEnd::kStopped;
    const auto start = Clock::now();
    const double loss_sum = Step(*b);
    const double secs = Seconds(start);
    if (!error_.empty()) return EpochEnd::kDiverged;
    if (!std::isfinite(loss_sum)) {
      error_ = "diverged at step " + std::to_string(p_.step + 1) + " (loss " +
               std::to_string(loss_sum) + ")";
      return EpochEnd::kDiverged;
    }
    p_.step += 1;
    p_.batch += 1;
    if (opt_.live) opt_.live->steps.store(p_.step, std::memory_order_relaxed);
    p_.epoch_loss_sum += loss_sum;
    p_.epoch_targets += b->global_targets;
    p_.tokens_seen += b->global_targets;
    p_.epoch_seconds += secs;
    p_.train_seconds += secs;
  }
  return EpochEnd::kDone;
}

Status Trainer::EndEpoch() {
  EpochRecord rec;
  rec.epoch = static_cast<uint32_t>(p_.epoch + 1);
  rec.steps = p_.step;
  rec.train_loss = p_.epoch_targets ? p_.epoch_loss_sum / p_.epoch_targets : 0.0;
  rec.seconds = p_.epoch_seconds;
  rec.cpu_seconds = p_.epoch_cpu_seconds;
  const auto start = Clock::now();
  rec.valid = evaluator_->Evaluate(*model_, Split::kValid, device_);
  rec.eval_seconds = Seconds(start);
  const double ndcg = rec.valid.Ndcg(10);
  if (ndcg > p_.best_ndcg) {
    p_.best_ndcg = ndcg;
    p_.best_epoch = rec.epoch;
    p_.since_best = 0;
    torch::NoGradGuard guard;
    if (best_params_.empty())
      for (const auto& p : params_) best_params_.push_back(p.detach().clone());
    else
      for (size_t i = 0; i < params_.size(); ++i) best_params_[i].copy_(params_[i]);
  } else {
    p_.since_best += 1;
  }
  p_.records.push_back(rec);
  p_.epoch += 1;
  p_.batch = 0;
  p_.epoch_loss_sum = 0.0;
  p_.epoch_targets = 0;
  p_.epoch_seconds = 0.0;
  p_.epoch_cpu_seconds = 0.0;
  if (c_.train.patience > 0 && p_.since_best >= c_.train.patience &&
      p_.epoch >= c_.train.min_epochs)
    p_.stopped_early = true;
  if (!opt_.checkpoint_dir.empty()) PERFLAW_RETURN_IF_ERROR(SaveCheckpoint());
  if (opt_.live) opt_.live->epochs.store(p_.epoch, std::memory_order_relaxed);
  if (opt_.on_epoch && coll_->rank() == 0) opt_.on_epoch(rec);
  return Status::Ok();
}

Status Trainer::Run() {
  while (p_.epoch < c_.train.epochs && !p_.stopped_early) {
    const EpochEnd end = TrainEpoch();
    if (end == EpochEnd::kDiverged) {
      result_->status = RunStatus::kDiverged;
      result_->message = error_;
      Finish();
      return Status::Ok();
    }
    if (end == EpochEnd::kStopped) {
      result_->status = RunStatus::kInterrupted;
      if (opt_.checkpoint_dir.empty()) {
        result_->message =
            "interrupted before step " + std::to_string(p_.step + 1) + "; no checkpoint directory";
      } else {
        PERFLAW_RETURN_IF_ERROR(SaveCheckpoint());
        result_->message = "interrupted before step " + std::to_string(p_.step + 1) +
                           "; checkpoint written to " + CheckpointPath();
      }
      Finish();
      return Status::Ok();
    }
    PERFLAW_RETURN_IF_ERROR(EndEpoch());
  }
  // The test metrics are for the model that validation picked.
  if (!best_params_.empty()) {
    torch::NoGradGuard guard;
    for (size_t i = 0; i < params_.size(); ++i) params_[i].copy_(best_params_[i]);
  }
  result_->test = evaluator_->Evaluate(*model_, Split::kTest, device_);
  result_->status = RunStatus::kOk;
  result_->message =
      p_.stopped_early ? "early stopping after epoch " + std::to_string(p_.epoch) : "ok";
  Finish();
  return Status::Ok();
}

void Trainer::Finish() {
  result_->epochs = p_.records;
  result_->best_epoch = p_.best_epoch;
  for (const auto& r : p_.records)
    if (r.epoch == p_.best_epoch) result_->best_valid = r.valid;
  result_->steps = p_.step;
  result_->tokens_seen = p_.tokens_seen;
  result_->train_seconds = p_.train_seconds;
  result_->tokens_per_second = p_.train_seconds > 0 ? p_.tokens_seen / p_.train_seconds : 0.0;
}

// The identity of PATH (inode and modification time: an inode number alone can be reused by a
// later file), or none when it does not exist.
std::optional<FileId> IdOf(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileId{st.st_ino, st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
}

// Writes `bytes` to PATH.tmp, syncs it and renames it over `path` if `path` is still the file this
// writer expects (`expected`; none: absent). A rank stopped and resumed after its point moved to
// another group (SIGSTOP, then Open MPI's SIGCONT + SIGTERM at the end of the job) thus cannot put
// its older state over the newer attempt's. On failure the temporary file is removed: it is never
// loaded, and its space is given back. Sets *written to the new file's identity.
Status WriteFileAtomically(const std::string& path, const std::string& bytes,
                           const std::optional<FileId>& expected, std::optional<FileId>* written) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IoError("writing checkpoint " + tmp + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  const bool ok = done == bytes.size() && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (ok && IdOf(path) != expected) {
    ::unlink(tmp.c_str());
    return Status::FailedPrecondition(path +
                                      " was written by a later attempt of this point; this "
                                      "attempt's checkpoint is dropped");
  }
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(ok ? errno : err);
    ::unlink(tmp.c_str());
    return Status::IoError("writing checkpoint " + path + ": " + why);
  }
  *written = IdOf(path);
  return Status::Ok();
}

// Rank 0 writes the checkpoint; every rank of the group then learns whether that worked (an
// all-reduce of a failure flag, which also holds the others until the file is in place), so that a
// failed write ends the attempt on every rank instead of leaving them at a barrier rank 0 skipped.
Status Trainer::SaveCheckpoint() {
  const Status written = coll_->rank() == 0 ? WriteCheckpoint() : Status::Ok();
  if (coll_->size() == 1) return written;
  double failed = written.ok() ? 0.0 : 1.0;
  PERFLAW_RETURN_IF_ERROR(coll_->AllReduceSum(&failed, 1));
  if (!written.ok()) return written;
  if (failed > 0)
    return Status::IoError("rank 0 of the group could not write checkpoint " + CheckpointPath());
  return Status::Ok();
}

// DIR/checkpoint.pt via a temporary file and a rename, so a crash mid-write leaves the previous
// checkpoint intact. Rank 0 only.
Status Trainer::WriteCheckpoint() {
  try {
    std::filesystem::create_directories(opt_.checkpoint_dir);
    torch::serialize::OutputArchive archive;
    json state = {{"config", PointConfigToJson(c_)},
                  {"progress", p_.ToJson()},
                  {"world_size", coll_->size()}};
    archive.write("state", c10::IValue(state.dump()));
    for (size_t i = 0; i < params_.size(); ++i) {
      archive.write("param/" + std::to_string(i), params_[i].detach().to(torch::kCPU));
      if (!best_params_.empty())
        archive.write("best/" + std::to_string(i), best_params_[i].to(torch::kCPU));
    }
    torch::serialize::OutputArchive opt_archive;
    optimizer_->save(opt_archive);
    archive.write("optimizer", opt_archive);
    // Serialized in memory first: LibTorch's file writer throws from its destructor when a write
    // fails (a full disk), which terminates the process.
    std::ostringstream bytes;
    archive.save_to(bytes);
    PERFLAW_RETURN_IF_ERROR(
        WriteFileAtomically(CheckpointPath(), bytes.str(), own_checkpoint_, &own_checkpoint_));
  } catch (const std::exception& e) {
    const std::string what = e.what();  // LibTorch's carry a multi-line trace after the first line
    return Status::Internal("serializing checkpoint " + CheckpointPath() + ": " +
                            what.substr(0, what.find('\n')));
  }
  return Status::Ok();
}

Status Trainer::LoadCheckpoint() {
  const std::string path = CheckpointPath();
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path, device_);
    c10::IValue state_value;
    archive.read("state", state_value);
    json state = json::parse(state_value.toStringRef());
    if (state.at("config") != PointConfigToJson(c_))
      return Status::FailedPrecondition(path +
                                        ": the checkpoint is for a different point configuration");
    if (state.at("world_size").get<int>() != coll_->size())
      return Status::FailedPrecondition(path + ": the checkpoint was written by " +
                                        std::to_string(state.at("world_size").get<int>()) +
                                        " ranks, not " + std::to_string(coll_->size()));
    p_ = TrainState::FromJson(state.at("progress"));
    own_checkpoint_ = IdOf(path);
    torch::NoGradGuard guard;
    for (size_t i = 0; i < params_.size(); ++i) {
      torch::Tensor t;
      archive.read("param/" + std::to_string(i), t);
      params_[i].copy_(t);
      if (p_.best_epoch > 0) {
        torch::Tensor b;
        archive.read("best/" + std::to_string(i), b);
        best_params_.push_back(b.to(device_).clone());
      }
    }
    torch::serialize::InputArchive opt_archive;
    archive.read("optimizer", opt_archive);
    optimizer_->load(opt_archive);
  } catch (const std::exception& e) {
    return Status::Corruption(path + ": cannot read the checkpoint: " + e.what());
  }
  return Status::Ok();
}

}  // namespace

PointResult TrainPointOnDataset(const PointConfig& config, const apen::Dataset& dataset,
                                const TrainOptions& options) {
  const auto start = Clock::now();
  PointResult result;
  result.config = config;
  try {
    Trainer trainer(config, dataset, options, &result);
    Status st = trainer.Setup();
    if (st.ok()) st = trainer.Run();
    if (!st.ok()) {
      result.status = RunStatus::kFailed;
      result.message = st.message();
      result.user_error = st.IsUserError();
      result.storage_error = st.code() == Status::Code::kIoError;
    }
  } catch (const std::exception& e) {
    result.status = RunStatus::kFailed;
    result.message = std::string("exception: ") + e.what();
  }
  result.wall_seconds = Seconds(start);
  return result;
}

PointResult TrainPoint(const PointConfig& config, const TrainOptions& options) {
  const auto start = Clock::now();
  apen::CacheOptions cache;
  cache.dir = options.cache_dir;
  StatusOr<apen::Dataset> data = apen::LoadDataset(config.data, cache);
  if (!data.ok()) {
    PointResult result;
    result.config = config;
    result.status = RunStatus::kFailed;
    result.message = data.status().message();
    result.user_error = data.status().IsUserError();
    result.storage_error = data.status().code() == Status::Code::kIoError;
    result.wall_seconds = Seconds(start);
    return result;
  }
  PointResult result = TrainPointOnDataset(config, *data, options);
  result.wall_seconds = Seconds(start);
  return result;
}

}  // namespace perflaw::worker
