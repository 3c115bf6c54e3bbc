#include "doppel/trainer/trainer.h"

#include <algorithm>
#include <bit>
#include <optional>

#include "doppel/autocast.h"
#include "doppel/autograd.h"
#include "doppel/generator.h"
#include "doppel/graph/compile.h"
#include "doppel/ops/creation.h"
#include "doppel/ops/elementwise.h"
#include "doppel/ops/loss.h"
#include "doppel/optim/clip_grad.h"
#include "doppel/trainer/model_checkpoint.h"
#include "training_flag.h"

namespace doppel {

using detail::TrainingFlag;

namespace {

Tensor int64_scalar(int64_t v) { return scalar(v, DType::Int64); }

int64_t read_int64(const StateDict& sd, std::string_view key, const std::string& path) {
  const Tensor t = state_find(sd, key);
  if (!t.defined() || t.dim() != 0 || t.dtype() != DType::Int64)
    throw ValueError(
        fmt::format("Trainer: checkpoint {} has no 0-d int64 'trainer/{}'; resume from a checkpoint "
                    "that Trainer::save_checkpoint or ModelCheckpoint wrote",
                    path, key));
  return t.item<int64_t>();
}

// The first `inputs` inputs share a dynamic batch dimension (dim 0); the model's parameters and
// buffers name the graph's state (graph pictures and TensorBoard group ops by module).
CompileOptions batch_dynamic(int inputs, bool passes, const nn::Module& model) {
  CompileOptions o{.state_names = model.named_parameters(), .passes = {.enabled = passes}};
  for (auto& b : model.named_buffers()) o.state_names.push_back(std::move(b));
  for (int i = 0; i < inputs; ++i) o.dynamic.push_back({i, 0, "batch"});
  return o;
}

}  // namespace

uint64_t seed_everything(uint64_t seed) {
  manual_seed(seed);
  return seed;
}

// The compiled functions of one model; remade when another model is given.
struct Trainer::Compiled {
  nn::Module* model = nullptr;
  std::optional<CompiledFunction> train, eval, predict;
};

Trainer::Trainer(TrainerOptions options) : options_(std::move(options)), compiled_(std::make_unique<Compiled>()) {
  DOPPEL_CHECK(options_.accumulate_grad_batches >= 1, "Trainer: accumulate_grad_batches must be >= 1, got {}",
               options_.accumulate_grad_batches);
  DOPPEL_CHECK(options_.gradient_clip_val >= 0, "Trainer: gradient_clip_val must be >= 0, got {}",
               options_.gradient_clip_val);
  DOPPEL_CHECK(options_.log_every_n_steps >= 1, "Trainer: log_every_n_steps must be >= 1, got {}",
               options_.log_every_n_steps);
  DOPPEL_CHECK(options_.limit_train_batches >= 0 && options_.limit_eval_batches >= 0,
               "Trainer: limit_train_batches and limit_eval_batches must be >= 0 (0: no limit)");
  DOPPEL_CHECK(
      !options_.scheduler || !options_.optimizer || &options_.scheduler->optimizer() == options_.optimizer.get(),
      "Trainer: the scheduler drives another optimizer than TrainerOptions::optimizer");
  for (const auto& m : options_.metrics) {
    DOPPEL_CHECK(m != nullptr, "Trainer: a metric is null");
    train_metrics_.push_back(m);
  }
  // Checkpoint callbacks last, so the state they save includes what the others did this epoch.
  for (const auto& c : options_.callbacks) DOPPEL_CHECK(c != nullptr, "Trainer: a callback is null");
  callbacks_ = options_.callbacks;
  std::stable_partition(callbacks_.begin(), callbacks_.end(), [](const std::shared_ptr<Callback>& c) {
    return dynamic_cast<callbacks::ModelCheckpoint*>(c.get()) == nullptr;
  });
}

Trainer::~Trainer() = default;

Trainer::Compiled& Trainer::compiled_for(nn::Module& model) {
  if (compiled_->model != &model) {
    *compiled_ = Compiled{};
    compiled_->model = &model;
  }
  return *compiled_;
}

template <class F>
void Trainer::each_callback(F&& f) {
  for (const auto& c : callbacks_) f(*c);
}

const CompiledFunction* Trainer::compiled_training_step() const {
  return compiled_->train ? &*compiled_->train : nullptr;
}

nn::Module& Trainer::model() const {
  DOPPEL_CHECK(model_ != nullptr, "Trainer.model: only available during fit()");
  return *model_;
}

optim::Optimizer& Trainer::optimizer() const {
  DOPPEL_CHECK(options_.optimizer != nullptr, "Trainer: no optimizer; set TrainerOptions::optimizer");
  return *options_.optimizer;
}

void Trainer::log(const Metrics& values) {
  for (const auto& [k, v] : values) callback_metrics_[k] = v;
  each_callback([&](Callback& c) { c.on_log(*this, values, global_step_); });
}

StepOutput Trainer::forward_loss(nn::Module& model, const data::Batch& batch) {
  std::optional<AutocastGuard> amp;
  if (options_.precision == Precision::BF16Mixed) amp.emplace(DeviceType::CPU, DType::BFloat16);
  if (options_.training_step) return options_.training_step(model, batch);
  Tensor output = model(batch.data);
  Tensor loss = options_.loss ? options_.loss(output, batch.target) : cross_entropy(output, batch.target);
  return {loss, output};
}

void Trainer::optimizer_step() {
  optim::Optimizer& opt = optimizer();
  if (options_.gradient_clip_val > 0) {
    if (options_.gradient_clip_algorithm == ClipAlgorithm::Norm)
      optim::clip_grad_norm_(opt.parameters(), options_.gradient_clip_val);
    else
      optim::clip_grad_value_(opt.parameters(), options_.gradient_clip_val);
  }
  opt.step();
}

std::vector<Tensor> Trainer::train_micro(const data::Batch& batch) {
  optimizer().zero_grad();
  const StepOutput o = forward_loss(*model_, batch);
  DOPPEL_CHECK(o.loss.defined() && o.loss.dim() == 0, "Trainer: the training step must return a 0-d loss");
  const int64_t n = options_.accumulate_grad_batches;
  (n > 1 ? div(o.loss, double(n)) : o.loss).backward();
  if (n == 1) optimizer_step();
  NoGradGuard no_grad;
  if (!o.output.defined()) return {o.loss.detach()};
  return {o.loss.detach(), o.output.detach()};
}

void Trainer::accumulate(bool first, bool last) {
  NoGradGuard no_grad;
  const std::vector<Tensor> params = optimizer().parameters();
  if (first) grad_sums_.assign(params.size(), Tensor());
  for (size_t k = 0; k < params.size(); ++k) {
    const Tensor g = params[k].grad();
    if (!g.defined()) continue;
    if (grad_sums_[k].defined())
      add_(grad_sums_[k], g);
    else
      grad_sums_[k] = g.clone();  // a replayed graph may reuse the gradient's buffer next run
  }
  if (!last) return;
  for (size_t k = 0; k < params.size(); ++k) params[k].set_grad(grad_sums_[k]);
  grad_sums_.clear();
  optimizer_step();
}

std::vector<Tensor> Trainer::eval_batch(nn::Module& model, const data::Batch& batch) {
  NoGradGuard no_grad;
  const StepOutput o = forward_loss(model, batch);
  if (!o.output.defined()) return {o.loss};
  return {o.loss, o.output};
}

int64_t Trainer::train_epoch(data::DataLoader& train) {
  const int64_t n = options_.accumulate_grad_batches;
  int64_t ran = 0;
  train.set_epoch(uint64_t(epoch_));
  int64_t i = 0;
  for (const data::Batch& b : train) {
    if (i >= num_train_batches_ || should_stop) break;
    if (i < next_batch_) {  // run before the checkpoint this fit resumed from
      ++i;
      continue;
    }
    each_callback([&](Callback& c) { c.on_train_batch_start(*this, b, i); });
    const bool first = i % n == 0, last = i % n == n - 1 || i + 1 == num_train_batches_;
    std::vector<Tensor> out;
    if (options_.compile) {
      DOPPEL_CHECK(b.target.defined(), "Trainer: a compiled training step needs batches with targets");
      if (!compiled_->train)
        compiled_->train.emplace(compile(
            [this](const std::vector<Tensor>& in) {
              return train_micro({in[0], in[1]});
            },
            batch_dynamic(2, options_.graph_passes, *model_)));
      out = (*compiled_->train)({b.data, b.target});
    } else {
      out = train_micro(b);
    }
    if (n > 1) accumulate(first, last);
    if (last) {
      ++global_step_;
      if (options_.scheduler && options_.scheduler_interval == Interval::Step) options_.scheduler->step();
    }
    train_loss_.update(out[0].item<double>(), b.data.size(0));
    if (!train_metrics_.empty()) {
      DOPPEL_CHECK(out.size() == 2, "Trainer: metrics need the model's output; return it in StepOutput::output");
      for (const auto& m : train_metrics_) m->update(out[1], b.target);
    }
    next_batch_ = ++i;
    ++ran;
    if (last && global_step_ % options_.log_every_n_steps == 0) {
      Metrics step{{"train_loss_step", train_loss_.compute()}};
      for (const auto& m : train_metrics_) step["train_" + m->name() + "_step"] = m->compute();
      log(step);
    }
    each_callback([&](Callback& c) { c.on_train_batch_end(*this, b, i - 1); });
  }
  return ran;
}

Metrics Trainer::evaluate(nn::Module& model, data::DataLoader& loader, const std::string& stage) {
  if (options_.compile && !compiled_for(model).eval)
    compiled_->eval.emplace(compile(
        [this, &model](const std::vector<Tensor>& in) {
          return eval_batch(model, {in[0], in[1]});
        },
        batch_dynamic(2, options_.graph_passes, model)));
  TrainingFlag eval_mode(model, false);
  metrics::Mean loss;
  std::vector<std::shared_ptr<metrics::Metric>> ms;
  for (const auto& m : options_.metrics) ms.push_back(m->clone());
  int64_t i = 0;
  for (const data::Batch& b : loader) {
    if (options_.limit_eval_batches > 0 && i >= options_.limit_eval_batches) break;
    ++i;
    DOPPEL_CHECK(b.target.defined(), "Trainer.{}: batches need targets (use predict() for unlabeled data)", stage);
    const std::vector<Tensor> out = options_.compile ? (*compiled_->eval)({b.data, b.target}) : eval_batch(model, b);
    loss.update(out[0].item<double>(), b.data.size(0));
    if (!ms.empty()) {
      DOPPEL_CHECK(out.size() == 2, "Trainer: metrics need the model's output; return it in StepOutput::output");
      for (const auto& m : ms) m->update(out[1], b.target);
    }
  }
  DOPPEL_CHECK(i > 0, "Trainer.{}: the data loader yielded no batch", stage);
  Metrics r{{stage + "_loss", loss.compute()}};
  for (const auto& m : ms) r[stage + "_" + m->name()] = m->compute();
  return r;
}

Metrics Trainer::validate(nn::Module& model, data::DataLoader& loader) {
  Metrics r = evaluate(model, loader, "val");
  log(r);
  return r;
}

Metrics Trainer::test(nn::Module& model, data::DataLoader& loader) {
  Metrics r = evaluate(model, loader, "test");
  log(r);
  return r;
}

std::vector<Tensor> Trainer::predict(nn::Module& model, data::DataLoader& loader) {
  TrainingFlag eval_mode(model, false);
  auto forward = [this, &model](const std::vector<Tensor>& in) {
    NoGradGuard no_grad;
    std::optional<AutocastGuard> amp;
    if (options_.precision == Precision::BF16Mixed) amp.emplace(DeviceType::CPU, DType::BFloat16);
    return std::vector<Tensor>{model(in[0])};
  };
  if (options_.compile && !compiled_for(model).predict)
    compiled_->predict.emplace(compile(forward, batch_dynamic(1, options_.graph_passes, model)));
  std::vector<Tensor> outputs;
  for (const data::Batch& b : loader)
    outputs.push_back(options_.compile ? (*compiled_->predict)({b.data})[0] : forward({b.data})[0]);
  return outputs;
}

void Trainer::save_checkpoint(const std::string& path) {
  nn::Module& m = model();
  const Generator& g = default_generator();
  io::Checkpoint ck;
  ck.parts.emplace_back("model", m.state_dict());
  ck.parts.emplace_back("optimizer", optimizer().state_dict());
  if (options_.scheduler) ck.parts.emplace_back("scheduler", options_.scheduler->state_dict());
  ck.parts.emplace_back("trainer", StateDict{{"epoch", int64_scalar(next_epoch_)},
                                             {"batch", int64_scalar(next_batch_)},
                                             {"global_step", int64_scalar(global_step_)},
                                             {"rng_seed", int64_scalar(std::bit_cast<int64_t>(g.seed()))},
                                             {"rng_offset", int64_scalar(std::bit_cast<int64_t>(g.offset()))}});
  each_callback([&](Callback& c) { c.on_save_checkpoint(*this, ck); });
  io::save_checkpoint(path, ck.parts, ck.metadata);
}

void Trainer::restore(const std::string& path) {
  const io::Checkpoint ck = io::load_checkpoint(path);
  const StateDict& t = ck.part("trainer");
  model_->load_state_dict(ck.part("model"));
  optimizer().load_state_dict(ck.part("optimizer"));
  if (options_.scheduler) options_.scheduler->load_state_dict(ck.part("scheduler"));
  next_epoch_ = read_int64(t, "epoch", path);
  next_batch_ = read_int64(t, "batch", path);
  global_step_ = read_int64(t, "global_step", path);
  default_generator().set_state(std::bit_cast<uint64_t>(read_int64(t, "rng_seed", path)),
                                std::bit_cast<uint64_t>(read_int64(t, "rng_offset", path)));
  each_callback([&](Callback& c) { c.on_load_checkpoint(*this, ck); });
}

void Trainer::fit(nn::Module& model, data::DataLoader& train, data::DataLoader* val, int64_t max_epochs,
                  const std::string& ckpt_path) {
  optimizer();  // required
  DOPPEL_CHECK(max_epochs >= 0, "Trainer.fit: max_epochs must be >= 0, got {}", max_epochs);
  model_ = &model;
  has_validation_ = val != nullptr;
  struct EndFit {
    Trainer* t;
    ~EndFit() { t->model_ = nullptr; }
  } end_fit{this};
  should_stop = false;
  global_step_ = next_epoch_ = next_batch_ = 0;
  history_.clear();
  num_train_batches_ = int64_t(train.size());
  if (options_.limit_train_batches > 0) num_train_batches_ = std::min(num_train_batches_, options_.limit_train_batches);
  if (!ckpt_path.empty()) restore(ckpt_path);
  compiled_for(model).train.reset();  // graphs of this fit's optimizer and options
  each_callback([&](Callback& c) { c.on_fit_start(*this); });
  TrainingFlag train_mode(model, true);
  for (epoch_ = next_epoch_; epoch_ < max_epochs && !should_stop; ++epoch_) {
    train_loss_.reset();
    for (const auto& m : train_metrics_) m->reset();
    each_callback([&](Callback& c) { c.on_train_epoch_start(*this); });
    const int64_t ran = train_epoch(train);
    if (next_batch_ < num_train_batches_) break;  // stopped inside the epoch
    if (options_.scheduler && options_.scheduler_interval == Interval::Epoch) options_.scheduler->step();
    next_epoch_ = epoch_ + 1;
    next_batch_ = 0;
    Metrics epoch{{"epoch", double(epoch_)}};
    if (ran > 0) {  // none when resumed from a checkpoint written after the epoch's last batch
      epoch["train_loss"] = train_loss_.compute();
      for (const auto& m : train_metrics_) epoch["train_" + m->name()] = m->compute();
    }
    log(epoch);
    each_callback([&](Callback& c) { c.on_train_epoch_end(*this); });
    if (val) {
      each_callback([&](Callback& c) { c.on_validation_start(*this); });
      const Metrics v = evaluate(model, *val, "val");
      log(v);
      epoch.insert(v.begin(), v.end());
      each_callback([&](Callback& c) { c.on_validation_end(*this); });
    }
    history_.push_back(epoch);
  }
  each_callback([&](Callback& c) { c.on_fit_end(*this); });
}

}  // namespace doppel
