// The batch checks every backend runs before computing (worker/backend/common/batch_check.h):
// sizes, ids, positions that continue each sequence, the context limit; a bad batch changes
// nothing.
#include "worker/backend/common/batch_check.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ps {
namespace {

BatchLimits Limits(bool first, bool last) {
  BatchLimits l;
  l.first_stage = first;
  l.last_stage = last;
  l.n_embd = 4;
  l.n_vocab = 10;
  l.n_ctx = 6;
  l.max_seqs = 3;
  return l;
}

// Two sequences: seq 0 continues at 2, seq 2 starts at 0.
Batch Good() {
  Batch b;
  b.tokens = {1, 2, 3};
  b.positions = {2, 0, 3};
  b.seq_ids = {0, 2, 0};
  b.logits = {0, 1, 1};
  return b;
}

Status Check(const Batch& b, const BatchLimits& l, std::vector<int32_t>* end) { return ValidateBatch(b, l, end); }

TEST(CudaBatchCheck, AdvancesEachSequencePastItsRows) {
  std::vector<int32_t> end = {2, 5, 0};
  ASSERT_TRUE(Check(Good(), Limits(true, true), &end).ok());
  EXPECT_EQ(end, (std::vector<int32_t>{4, 5, 1}));
}

TEST(CudaBatchCheck, LaterStagesTakeEmbeddings) {
  Batch b = Good();
  b.tokens.clear();
  b.embeddings.assign(3 * 4, 0.5f);
  std::vector<int32_t> end = {2, 0, 0};
  EXPECT_TRUE(Check(b, Limits(false, false), &end).ok());
  b.embeddings.pop_back();
  end = {2, 0, 0};
  const Status s = Check(b, Limits(false, false), &end);
  EXPECT_EQ(s.message(), "batch: embeddings has 11 values, expected 3 rows x n_embd 4");
}

struct BadCase {
  const char* what;
  void (*mutate)(Batch&);
  StatusCode code;
  const char* message;
};

TEST(CudaBatchCheck, RejectsWithTheCpuBackendsMessages) {
  const BadCase cases[] = {
      {"seq_ids size", [](Batch& b) { b.seq_ids.pop_back(); }, StatusCode::kInvalidArgument,
       "batch: seq_ids has 2 entries, positions 3"},
      {"tokens size", [](Batch& b) { b.tokens.push_back(1); }, StatusCode::kInvalidArgument,
       "batch: tokens has 4 entries, positions 3"},
      {"logits size", [](Batch& b) { b.logits.clear(); }, StatusCode::kInvalidArgument,
       "batch: logits has 0 entries, positions 3"},
      {"seq range", [](Batch& b) { b.seq_ids[1] = 3; }, StatusCode::kInvalidArgument,
       "batch row 1: seq_id 3 outside [0, 3)"},
      {"negative seq", [](Batch& b) { b.seq_ids[0] = -1; }, StatusCode::kInvalidArgument,
       "batch row 0: seq_id -1 outside [0, 3)"},
      {"token range", [](Batch& b) { b.tokens[2] = 10; }, StatusCode::kInvalidArgument,
       "batch row 2: token 10 outside [0, 10)"},
      {"gap", [](Batch& b) { b.positions[2] = 4; }, StatusCode::kInvalidArgument,
       "batch row 2: position 4 of sequence 0 does not continue it (expected 3)"},
      {"restart", [](Batch& b) { b.positions[0] = 0; }, StatusCode::kInvalidArgument,
       "batch row 0: position 0 of sequence 0 does not continue it (expected 2)"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.what);
    Batch b = Good();
    c.mutate(b);
    std::vector<int32_t> end = {2, 0, 0};
    const Status s = Check(b, Limits(true, true), &end);
    EXPECT_EQ(s.code(), c.code);
    EXPECT_EQ(s.message(), c.message);
  }
}

TEST(CudaBatchCheck, PositionsMustFitTheContext) {
  Batch b;
  b.tokens = {1, 1};
  b.positions = {5, 6};
  b.seq_ids = {1, 1};
  b.logits = {0, 1};
  std::vector<int32_t> end = {0, 5, 0};
  const Status s = Check(b, Limits(true, true), &end);
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_EQ(s.message(), "batch row 1: position 6 of sequence 1 is past the context (n_ctx 6)");
}

TEST(CudaBatchCheck, MiddleStagesIgnoreTokensAndLogits) {
  Batch b = Good();
  b.tokens.clear();
  b.logits.clear();
  b.embeddings.assign(12, 0.0f);
  std::vector<int32_t> end = {2, 0, 0};
  EXPECT_TRUE(Check(b, Limits(false, false), &end).ok());
}

TEST(CudaBatchCheck, AnEmptyBatchIsValid) {
  std::vector<int32_t> end = {1, 2, 3};
  EXPECT_TRUE(Check(Batch{}, Limits(false, true), &end).ok());
  EXPECT_EQ(end, (std::vector<int32_t>{1, 2, 3}));
}

}  // namespace
}  // namespace ps
