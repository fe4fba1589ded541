// The hardware catalog: the built-in file loads and holds what the planner needs, names and
// aliases are found loosely, cluster specs parse, and bad catalogs and specs are refused naming
// the entry, the field or the name.
#include "common/plan/hardware_catalog.h"

#include <gtest/gtest.h>

namespace ps::plan {
namespace {

TEST(HardwareCatalog, BuiltInLoadsEveryNamedDeviceAndLink) {
  const HardwareCatalog& c = HardwareCatalog::BuiltIn();
  for (const char* device : {"P40", "T4", "RTX3090", "RTX4090", "A100-40GB", "A100-80GB", "H100-SXM", "H100-PCIe",
                             "H200", "cpu-zen3-8c", "cpu-xeon-spr-2c", "cpu-epyc-genoa-64c"}) {
    EXPECT_NE(c.FindDevice(device), nullptr) << device;
  }
  for (const char* link : {"loopback", "pcie3", "pcie4", "pcie5", "nvlink3", "nvlink4", "1gbe", "10gbe", "25gbe", "100gbe"}) {
    EXPECT_NE(c.FindLink(link), nullptr) << link;
  }
  const DeviceProfile* p40 = c.FindDevice("tesla_P40");
  ASSERT_NE(p40, nullptr);
  EXPECT_EQ(p40->name, "P40");
  EXPECT_TRUE(p40->gpu);
  EXPECT_GT(p40->memory_bytes, 20ull << 30);
  EXPECT_NEAR(p40->memory_bandwidth, 346e9, 10e9);
  EXPECT_LT(p40->f16_flops, p40->f32_flops);  // Pascal's FP16 runs at 1/64 rate
  EXPECT_FALSE(c.FindDevice("cpu-zen3-8c")->gpu);
  EXPECT_EQ(c.FindLink("PCIe3_x16")->name, "pcie3");
  EXPECT_EQ(c.FindDevice("nonsense"), nullptr);
}

TEST(HardwareCatalog, ClusterSpecsParse) {
  const HardwareCatalog& c = HardwareCatalog::BuiltIn();
  auto four = ParseClusterSpec("4xP40 pcie3", c);
  ASSERT_TRUE(four.ok()) << four.status().ToString();
  ASSERT_EQ(four->size(), 1u);
  EXPECT_EQ((*four)[0].count, 4);
  EXPECT_EQ((*four)[0].device.name, "P40");
  EXPECT_EQ((*four)[0].link.name, "pcie3");
  auto mixed = ParseClusterSpec(" 2xRTX4090 pcie4 ,  cpu-zen3-8c   10gbe", c);
  ASSERT_TRUE(mixed.ok()) << mixed.status().ToString();
  ASSERT_EQ(mixed->size(), 2u);
  EXPECT_EQ((*mixed)[1].count, 1);
  EXPECT_EQ((*mixed)[1].link.name, "10gbe");
}

TEST(HardwareCatalog, BadSpecsNameWhatIsWrong) {
  const HardwareCatalog& c = HardwareCatalog::BuiltIn();
  const std::pair<const char*, const char*> cases[] = {
      {"4xP41 pcie3", "unknown device 'P41' (known: P40"},
      {"4xP40 pcie9", "unknown link 'pcie9' (known: loopback"},
      {"4xP40", "give a device and a link"},
      {"0xP40 pcie3", "the count must be 1 to 256"},
      {"99999999999999xP40 pcie3", "the count must be 1 to 256"},
      {"200xP40 pcie3, 100xT4 pcie3", "more than 256 devices"},
      {"4xP40 pcie3,", "an empty group"},
      {"", "an empty group"},
  };
  for (const auto& [spec, want] : cases) {
    auto r = ParseClusterSpec(spec, c);
    ASSERT_FALSE(r.ok()) << spec;
    EXPECT_NE(r.status().message().find(want), std::string::npos) << spec << ": " << r.status().message();
  }
}

TEST(HardwareCatalog, BadCatalogsNameTheEntryAndField) {
  const std::string device =
      R"({"name": "X", "kind": "gpu", "memory_bytes": 1e9, "memory_bandwidth_bytes_per_s": 1e11, "f32_flops": 1e12,
          "f16_flops": 1e12, "int8_ops": 1e12, "efficiency": {"bandwidth": 0.5, "compute": 0.5}, "launch_overhead_s": 1e-5})";
  const std::string link = R"({"name": "l", "bandwidth_bytes_per_s": 1e9, "latency_s": 1e-5})";
  auto wrap = [&](const std::string& d, const std::string& l) {
    std::string text = R"({"version": 1, "devices": [)";
    text += d;
    text += R"(], "links": [)";
    text += l;
    text += "]}";
    return text;
  };
  ASSERT_TRUE(HardwareCatalog::FromJson(wrap(device, link), "t.json").ok());
  auto replace = [](std::string s, const std::string& from, const std::string& to) {
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  const std::pair<std::string, std::string> cases[] = {
      {wrap(replace(device, "\"bandwidth\": 0.5", "\"bandwidth\": 1.5"), link), "devices[0] (X).efficiency.bandwidth"},
      {wrap(replace(device, "\"kind\": \"gpu\"", "\"kind\": \"tpu\""), link), "devices[0] (X).kind"},
      {wrap(replace(device, "\"f32_flops\": 1e12", "\"f32_flops\": -1"), link), "devices[0] (X).f32_flops"},
      {wrap(device, replace(link, "\"latency_s\": 1e-5", "\"latency_s\": \"fast\"")), "links[0].latency_s"},
      {wrap(device + "," + device, link), "the name 'X' is given twice"},
      {"[1]", "not a JSON object"},
      {R"({"version": 2})", "\"version\" must be 1"},
  };
  for (const auto& [text, want] : cases) {
    auto r = HardwareCatalog::FromJson(text, "t.json");
    ASSERT_FALSE(r.ok()) << want;
    EXPECT_NE(r.status().message().find("t.json"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find(want), std::string::npos) << r.status().message();
  }
}


// A measured profile: kernel rates and curves by weight type, attention and row rates; written
// by ToJson and read back the same; its entries replace built-in ones of the same name.
TEST(HardwareCatalog, MeasuredProfilesRoundTripAndReplaceBuiltIns) {
  DeviceProfile d = *HardwareCatalog::BuiltIn().FindDevice("cpu-zen3-8c");
  d.name = "P40";  // replaces the built-in P40 in the combined catalog
  d.aliases = {"my-host"};
  d.attention_flops = 5e10;
  d.row_elements_per_s = 3e9;
  d.kernels["q8_0"] = KernelRates{2e10, 2e11, {{1024, {{1, 4e10}, {8, 1e11}, {128, 2e11}}}}};
  const std::string text = HardwareCatalog::Of({d}, {}).ToJson();
  auto read = HardwareCatalog::FromJson(text, "profile.json");
  ASSERT_TRUE(read.ok()) << read.status().ToString() << "\n" << text;
  const DeviceProfile* back = read->FindDevice("my-host");
  ASSERT_NE(back, nullptr);
  EXPECT_DOUBLE_EQ(back->attention_flops, 5e10);
  EXPECT_DOUBLE_EQ(back->row_elements_per_s, 3e9);
  ASSERT_EQ(back->kernels.count("q8_0"), 1u);
  EXPECT_EQ(back->kernels.at("q8_0").curves.at(1024).size(), 3u);
  EXPECT_DOUBLE_EQ(back->kernels.at("q8_0").curves.at(1024)[1].second, 1e11);
  const HardwareCatalog combined = HardwareCatalog::Combine(*read, HardwareCatalog::BuiltIn());
  EXPECT_EQ(combined.FindDevice("P40")->aliases, std::vector<std::string>{"my-host"});
  EXPECT_NE(combined.FindDevice("T4"), nullptr);
  EXPECT_EQ(combined.devices().size(), HardwareCatalog::BuiltIn().devices().size());
  EXPECT_EQ(KernelKey(GgmlType::Q4_K), "q4_k");
}

TEST(HardwareCatalog, BadKernelEntriesAreNamed) {
  const std::string head = R"({"version": 1, "links": [], "devices": [{"name": "h", "kind": "cpu", "memory_bytes": 1e9,
    "memory_bandwidth_bytes_per_s": 1e10, "f32_flops": 1e11, "f16_flops": 1e11, "int8_ops": 1e11,
    "efficiency": {"bandwidth": 1, "compute": 1}, "launch_overhead_s": 1e-6, "kernels": )";
  const std::pair<std::string, std::string> cases[] = {
      {R"({"q9_9": {"decode_bytes_per_s": 1, "prefill_ops": 1}})", "kernels.q9_9 is not a ggml type name"},
      {R"({"q8_0": {"prefill_ops": 1}})", "decode_bytes_per_s must be a number"},
      {R"({"q8_0": {"decode_bytes_per_s": 1, "prefill_ops": 1, "curves": {"1024": [[4, 1], [2, 1]]}}})", "curves.1024"},
      {R"({"q8_0": {"decode_bytes_per_s": 1, "prefill_ops": 1, "curves": {"wide": [[1, 1]]}}})", "is not a row length"},
      {R"({"q8_0": {"decode_bytes_per_s": 1, "prefill_ops": 1, "curves": {"1024": [[1, -5]]}}})", "curves.1024"},
  };
  for (const auto& [kernels, want] : cases) {
    auto c = HardwareCatalog::FromJson(head + kernels + "}]}", "p.json");
    ASSERT_FALSE(c.ok()) << kernels;
    EXPECT_NE(c.status().message().find(want), std::string::npos) << c.status().message();
    EXPECT_NE(c.status().message().find("p.json"), std::string::npos) << c.status().message();
  }
}

}  // namespace
}  // namespace ps::plan
