// Printable: text from files and peers becomes one safe line; UTF-8 survives, everything a
// terminal would act on is escaped, and long text is cut and counted.
#include "common/util/printable.h"

#include <gtest/gtest.h>

namespace ps {
namespace {

TEST(Printable, PlainTextAndUtf8AreKept) {
  EXPECT_EQ(Printable("layer 3: tensor 'blk.3.attn_q.weight'"), "layer 3: tensor 'blk.3.attn_q.weight'");
  EXPECT_EQ(Printable("caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80"), "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80");
}

TEST(Printable, ControlBytesAndEscapesAreEscaped) {
  EXPECT_EQ(Printable("a\nb\tc\rd"), "a\\x0Ab\\x09c\\x0Dd");
  EXPECT_EQ(Printable("\x1B[2J\x1B]0;owned\x07"), "\\x1B[2J\\x1B]0;owned\\x07");
  EXPECT_EQ(Printable(std::string_view("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(Printable("\x7F"), "\\x7F");
}

TEST(Printable, InvalidUtf8IsEscaped) {
  EXPECT_EQ(Printable("\xFF\xFE"), "\\xFF\\xFE");
  EXPECT_EQ(Printable("\xC3"), "\\xC3");                  // cut short
  EXPECT_EQ(Printable("\xC0\xAF"), "\\xC0\\xAF");         // overlong '/'
  EXPECT_EQ(Printable("\xED\xA0\x80"), "\\xED\\xA0\\x80");  // a surrogate
  EXPECT_EQ(Printable("\xF4\x90\x80\x80"), "\\xF4\\x90\\x80\\x80");  // above U+10FFFF
  EXPECT_EQ(Printable("\xC2\x9B"), "\\xC2\\x9B");         // U+009B, the one-byte CSI of some terminals
}

TEST(Printable, LongTextIsCutAndCounted) {
  EXPECT_EQ(Printable(std::string(10, 'x'), 4), "xxxx... (6 more bytes)");
}

}  // namespace
}  // namespace ps
