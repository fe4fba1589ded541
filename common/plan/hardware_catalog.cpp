#include "common/plan/hardware_catalog.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/quant/ggml_type.h"
#include "common/util/printable.h"

namespace ps::plan {

// common/plan/hardware_catalog.json, written into a source file by CMake.
extern const char* const kBuiltInHardwareCatalogJson;

namespace {

using nlohmann::json;

// Upper bounds of a plausible rate: a catalog value above them is a typo.
constexpr double kPeta = 1e15, kExa = 1e18;

// Names compare without case, '-' or '_': "Tesla-P40" finds "tesla_p40".
std::string Key(std::string_view name) {
  std::string key;
  for (char c : name) {
    if (c == '-' || c == '_') continue;
    key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return key;
}

class Reader {
 public:
  Reader(std::string_view origin, std::string where, const json& entry)
      : origin_(origin), where_(std::move(where)), entry_(entry) {}

  Status Text(const char* field, std::string* out) const {
    if (!entry_.contains(field) || !entry_[field].is_string() || entry_[field].get<std::string>().empty()) {
      return Bad(field, "must be a non-empty string");
    }
    *out = entry_[field].get<std::string>();
    if (out->size() > 64) return Bad(field, "is longer than 64 bytes");
    return Status::Ok();
  }
  // A finite number in (0, high].
  Status Positive(const char* field, double high, double* out) const {
    if (!entry_.contains(field) || !entry_[field].is_number()) return Bad(field, "must be a number");
    const double v = entry_[field].get<double>();
    if (!std::isfinite(v) || v <= 0 || v > high) {
      return Bad(field, "= " + entry_[field].dump() + " is outside (0, " + json(high).dump() + "]");
    }
    *out = v;
    return Status::Ok();
  }
  Status Aliases(std::vector<std::string>* out) const {
    if (!entry_.contains("aliases")) return Status::Ok();
    const json& a = entry_["aliases"];
    if (!a.is_array() || a.size() > 16) return Bad("aliases", "must be a list of at most 16 strings");
    for (const json& name : a) {
      if (!name.is_string() || name.get<std::string>().empty() || name.get<std::string>().size() > 64) {
        return Bad("aliases", "must hold non-empty strings of at most 64 bytes");
      }
      out->push_back(name.get<std::string>());
    }
    return Status::Ok();
  }
  Status Bad(const std::string& field, const std::string& why) const {
    return Status::InvalidArgument(std::string(origin_) + ": " + where_ + "." + field + " " + why);
  }

 private:
  std::string_view origin_;
  std::string where_;
  const json& entry_;
};

template <typename Profile>
const Profile* Find(const std::vector<Profile>& profiles, std::string_view name) {
  const std::string key = Key(name);
  for (const Profile& p : profiles) {
    if (Key(p.name) == key) return &p;
    for (const std::string& alias : p.aliases) {
      if (Key(alias) == key) return &p;
    }
  }
  return nullptr;
}

template <typename Profile>
std::string Names(const std::vector<Profile>& profiles) {
  std::string out;
  for (const Profile& p : profiles) {
    if (!out.empty()) out += ", ";
    out += p.name;
  }
  return out;
}

// Every name and alias names one entry only, across devices and links.
template <typename Profile>
Status CheckUnique(const std::vector<Profile>& profiles, std::string_view origin, std::vector<std::string>* seen) {
  for (const Profile& p : profiles) {
    std::vector<std::string> names = p.aliases;
    names.push_back(p.name);
    std::vector<std::string> own;  // an alias may repeat its entry's own name ("p40" for "P40")
    for (const std::string& n : names) {
      const std::string key = Key(n);
      if (std::find(own.begin(), own.end(), key) != own.end()) continue;
      if (std::find(seen->begin(), seen->end(), key) != seen->end()) {
        return Status::InvalidArgument(std::string(origin) + ": the name '" + n + "' is given twice");
      }
      own.push_back(key);
    }
    seen->insert(seen->end(), own.begin(), own.end());
  }
  return Status::Ok();
}

// "curves": {"1024": [[1, OPS], [2, OPS], ...], "4096": [...]}: optional; row lengths and row
// counts positive and increasing, at most kMaxCurvePoints points each.
constexpr size_t kMaxCurves = 8;
constexpr size_t kMaxCurvePoints = 64;
Status ReadCurves(const Reader& r, const json& rates, std::map<int64_t, std::vector<std::pair<int32_t, double>>>* out) {
  if (!rates.contains("curves")) return Status::Ok();
  const json& c = rates["curves"];
  if (!c.is_object() || c.size() > kMaxCurves) return r.Bad("curves", "must be an object of at most " + std::to_string(kMaxCurves) + " row lengths");
  for (const auto& [width, points] : c.items()) {
    const std::string field = "curves." + Printable(width, 16);
    int64_t cols = 0;
    for (char ch : width) {
      if (ch < '0' || ch > '9' || cols > (int64_t{1} << 30)) return r.Bad(field, "is not a row length");
      cols = cols * 10 + (ch - '0');
    }
    if (cols < 1) return r.Bad(field, "is not a row length");
    if (!points.is_array() || points.empty() || points.size() > kMaxCurvePoints) {
      return r.Bad(field, "must be a list of 1 to " + std::to_string(kMaxCurvePoints) + " [rows, ops/s] pairs");
    }
    std::vector<std::pair<int32_t, double>> curve;
    for (const json& p : points) {
      if (!p.is_array() || p.size() != 2 || !p[0].is_number_integer() || !p[1].is_number()) {
        return r.Bad(field, "must hold [rows, ops/s] pairs");
      }
      const int64_t n = p[0].get<int64_t>();
      const double ops = p[1].get<double>();
      if (n < 1 || n > (1 << 20) || !std::isfinite(ops) || ops <= 0 || ops > kExa ||
          (!curve.empty() && n <= curve.back().first)) {
        return r.Bad(field, "must hold increasing row counts in [1, 1048576] with ops/s in (0, 1e18]");
      }
      curve.emplace_back(static_cast<int32_t>(n), ops);
    }
    (*out)[cols] = std::move(curve);
  }
  return Status::Ok();
}

// "kernels": {"q8_0": {"decode_bytes_per_s": B, "prefill_ops": OPS}, ...}: optional, at most
// kMaxKernelEntries, each key a ggml type name.
constexpr size_t kMaxKernelEntries = 32;
Status ReadKernels(std::string_view origin, const std::string& where, const json& e, std::map<std::string, KernelRates>* out) {
  if (!e.contains("kernels")) return Status::Ok();
  const json& k = e["kernels"];
  Reader r(origin, where, e);
  if (!k.is_object() || k.size() > kMaxKernelEntries) {
    return r.Bad("kernels", "must be an object of at most " + std::to_string(kMaxKernelEntries) + " weight types");
  }
  for (const auto& [name, rates] : k.items()) {
    const auto type = ParseTypeName(name);
    const std::string field = "kernels." + Printable(name, 32);
    if (!type) return r.Bad(field, "is not a ggml type name");
    if (!rates.is_object()) return r.Bad(field, "must be an object");
    Reader rr(origin, where + "." + field, rates);
    KernelRates kr;
    PS_RETURN_IF_ERROR(rr.Positive("decode_bytes_per_s", kPeta, &kr.decode_bytes_per_s));
    PS_RETURN_IF_ERROR(rr.Positive("prefill_ops", kExa, &kr.prefill_ops));
    PS_RETURN_IF_ERROR(ReadCurves(rr, rates, &kr.curves));
    (*out)[KernelKey(*type)] = kr;
  }
  return Status::Ok();
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<HardwareCatalog> HardwareCatalog::FromJson(std::string_view text, std::string_view origin) {
  const json root = json::parse(text, nullptr, false);
  if (root.is_discarded() || !root.is_object()) {
    return Status::InvalidArgument(std::string(origin) + ": not a JSON object");
  }
  if (!root.contains("version") || root["version"] != 1) {
    return Status::Unsupported(std::string(origin) + ": \"version\" must be 1");
  }
  HardwareCatalog catalog;
  for (const char* list : {"devices", "links"}) {
    if (!root.contains(list) || !root[list].is_array() || root[list].size() > 1024) {
      return Status::InvalidArgument(std::string(origin) + ": \"" + list + "\" must be a list of at most 1024 entries");
    }
  }
  for (size_t i = 0; i < root["devices"].size(); ++i) {
    const json& e = root["devices"][i];
    if (!e.is_object()) return Status::InvalidArgument(std::string(origin) + ": devices[" + std::to_string(i) + "] is not an object");
    const std::string where = "devices[" + std::to_string(i) + "]" +
                              (e.contains("name") && e["name"].is_string() ? " (" + Printable(e["name"].get<std::string>(), 64) + ")" : "");
    Reader r(origin, where, e);
    DeviceProfile d;
    PS_RETURN_IF_ERROR(r.Text("name", &d.name));
    PS_RETURN_IF_ERROR(r.Aliases(&d.aliases));
    std::string kind;
    PS_RETURN_IF_ERROR(r.Text("kind", &kind));
    if (kind != "gpu" && kind != "cpu") return r.Bad("kind", "must be \"gpu\" or \"cpu\"");
    d.gpu = kind == "gpu";
    double memory = 0;
    PS_RETURN_IF_ERROR(r.Positive("memory_bytes", 1e15, &memory));
    d.memory_bytes = static_cast<uint64_t>(memory);
    PS_RETURN_IF_ERROR(r.Positive("memory_bandwidth_bytes_per_s", kPeta, &d.memory_bandwidth));
    PS_RETURN_IF_ERROR(r.Positive("f32_flops", kExa, &d.f32_flops));
    PS_RETURN_IF_ERROR(r.Positive("f16_flops", kExa, &d.f16_flops));
    PS_RETURN_IF_ERROR(r.Positive("int8_ops", kExa, &d.int8_ops));
    if (!e.contains("efficiency") || !e["efficiency"].is_object()) return r.Bad("efficiency", "must be an object");
    Reader eff(origin, where + ".efficiency", e["efficiency"]);
    PS_RETURN_IF_ERROR(eff.Positive("bandwidth", 1.0, &d.bandwidth_efficiency));
    PS_RETURN_IF_ERROR(eff.Positive("compute", 1.0, &d.compute_efficiency));
    PS_RETURN_IF_ERROR(r.Positive("launch_overhead_s", 1.0, &d.launch_overhead_s));
    PS_RETURN_IF_ERROR(ReadKernels(origin, where, e, &d.kernels));
    if (e.contains("attention_flops")) PS_RETURN_IF_ERROR(r.Positive("attention_flops", kExa, &d.attention_flops));
    if (e.contains("row_elements_per_s")) PS_RETURN_IF_ERROR(r.Positive("row_elements_per_s", kExa, &d.row_elements_per_s));
    if (e.contains("source") && e["source"].is_string()) d.source = Printable(e["source"].get<std::string>(), 4096);
    catalog.devices_.push_back(std::move(d));
  }
  for (size_t i = 0; i < root["links"].size(); ++i) {
    const json& e = root["links"][i];
    if (!e.is_object()) return Status::InvalidArgument(std::string(origin) + ": links[" + std::to_string(i) + "] is not an object");
    Reader r(origin, "links[" + std::to_string(i) + "]", e);
    LinkProfile l;
    PS_RETURN_IF_ERROR(r.Text("name", &l.name));
    PS_RETURN_IF_ERROR(r.Aliases(&l.aliases));
    PS_RETURN_IF_ERROR(r.Positive("bandwidth_bytes_per_s", kPeta, &l.bandwidth));
    PS_RETURN_IF_ERROR(r.Positive("latency_s", 10.0, &l.latency_s));
    catalog.links_.push_back(std::move(l));
  }
  std::vector<std::string> seen;
  PS_RETURN_IF_ERROR(CheckUnique(catalog.devices_, origin, &seen));
  PS_RETURN_IF_ERROR(CheckUnique(catalog.links_, origin, &seen));
  return catalog;
}

const HardwareCatalog& HardwareCatalog::BuiltIn() {
  static const HardwareCatalog catalog = [] {
    Result<HardwareCatalog> parsed = FromJson(kBuiltInHardwareCatalogJson, "built-in hardware catalog");
    // Checked by the unit tests at every build: a broken built-in file never ships.
    return parsed.ok() ? std::move(parsed).value() : HardwareCatalog();
  }();
  return catalog;
}

namespace {

template <typename Profile>
bool SharesAName(const Profile& p, const std::vector<Profile>& others) {
  std::vector<std::string> names = p.aliases;
  names.push_back(p.name);
  for (const std::string& n : names) {
    if (Find(others, n) != nullptr) return true;
  }
  return false;
}

}  // namespace

std::string KernelKey(GgmlType type) {
  std::string key(TypeName(type));
  for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return key;
}

HardwareCatalog HardwareCatalog::Combine(const HardwareCatalog& extra, const HardwareCatalog& base) {
  HardwareCatalog out = extra;
  for (const DeviceProfile& d : base.devices_) {
    if (!SharesAName(d, extra.devices_)) out.devices_.push_back(d);
  }
  for (const LinkProfile& l : base.links_) {
    if (!SharesAName(l, extra.links_)) out.links_.push_back(l);
  }
  return out;
}

Result<HardwareCatalog> HardwareCatalog::BuiltInWith(const std::string& path) {
  if (path.empty()) return BuiltIn();
  constexpr size_t kMaxFileBytes = 1 << 20;
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(path + ": cannot open the catalog file");
  std::string text(kMaxFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxFileBytes) return Status::InvalidArgument(path + ": a catalog file may hold at most 1 MiB");
  PS_ASSIGN_OR_RETURN(HardwareCatalog extra, FromJson(text, path));
  return Combine(extra, BuiltIn());
}

HardwareCatalog HardwareCatalog::Of(std::vector<DeviceProfile> devices, std::vector<LinkProfile> links) {
  HardwareCatalog out;
  out.devices_ = std::move(devices);
  out.links_ = std::move(links);
  return out;
}

std::string HardwareCatalog::ToJson() const {
  json devices = json::array();
  for (const DeviceProfile& d : devices_) {
    json e = {{"name", d.name},
              {"aliases", d.aliases},
              {"kind", d.gpu ? "gpu" : "cpu"},
              {"memory_bytes", d.memory_bytes},
              {"memory_bandwidth_bytes_per_s", d.memory_bandwidth},
              {"f32_flops", d.f32_flops},
              {"f16_flops", d.f16_flops},
              {"int8_ops", d.int8_ops},
              {"efficiency", {{"bandwidth", d.bandwidth_efficiency}, {"compute", d.compute_efficiency}}},
              {"launch_overhead_s", d.launch_overhead_s}};
    if (!d.kernels.empty()) {
      json k = json::object();
      for (const auto& [name, rates] : d.kernels) {
        k[name] = {{"decode_bytes_per_s", rates.decode_bytes_per_s}, {"prefill_ops", rates.prefill_ops}};
        if (!rates.curves.empty()) {
          json curves = json::object();
          for (const auto& [cols, points] : rates.curves) {
            json list = json::array();
            for (const auto& [n, ops] : points) list.push_back({n, ops});
            curves[std::to_string(cols)] = list;
          }
          k[name]["curves"] = curves;
        }
      }
      e["kernels"] = k;
    }
    if (d.attention_flops > 0) e["attention_flops"] = d.attention_flops;
    if (d.row_elements_per_s > 0) e["row_elements_per_s"] = d.row_elements_per_s;
    if (!d.source.empty()) e["source"] = d.source;
    devices.push_back(e);
  }
  json links = json::array();
  for (const LinkProfile& l : links_) {
    links.push_back({{"name", l.name}, {"aliases", l.aliases}, {"bandwidth_bytes_per_s", l.bandwidth}, {"latency_s", l.latency_s}});
  }
  return json{{"version", 1}, {"devices", devices}, {"links", links}}.dump(2);
}

const DeviceProfile* HardwareCatalog::FindDevice(std::string_view name) const { return Find(devices_, name); }
const LinkProfile* HardwareCatalog::FindLink(std::string_view name) const { return Find(links_, name); }

Result<std::vector<ClusterGroup>> ParseClusterSpec(std::string_view spec, const HardwareCatalog& catalog) {
  std::vector<ClusterGroup> groups;
  int total = 0;
  std::string_view rest = spec;
  while (true) {
    const size_t comma = rest.find(',');
    const std::string_view part = Trim(rest.substr(0, comma));
    const std::string shown = Printable(part, 80);
    if (part.empty()) return Status::InvalidArgument("--cluster \"" + Printable(spec, 200) + "\": an empty group");
    const size_t space = part.find_first_of(" \t");
    if (space == std::string_view::npos) {
      return Status::InvalidArgument("--cluster group \"" + shown + "\": give a device and a link, e.g. \"4xP40 pcie3\"");
    }
    std::string_view device = part.substr(0, space);
    const std::string_view link = Trim(part.substr(space));
    ClusterGroup g;
    g.count = 1;
    if (const size_t x = device.find_first_of("xX"); x != std::string_view::npos && x > 0 &&
                                                      device.substr(0, x).find_first_not_of("0123456789") == std::string_view::npos) {
      const std::string digits(device.substr(0, x));
      g.count = digits.size() > 4 ? kMaxSpecDevices + 1 : std::stoi(digits);
      device = device.substr(x + 1);
    }
    if (g.count < 1 || g.count > kMaxSpecDevices) {
      return Status::InvalidArgument("--cluster group \"" + shown + "\": the count must be 1 to " + std::to_string(kMaxSpecDevices));
    }
    const DeviceProfile* d = catalog.FindDevice(device);
    if (d == nullptr) {
      return Status::InvalidArgument("--cluster group \"" + shown + "\": unknown device '" + Printable(device, 64) +
                                     "' (known: " + Names(catalog.devices()) + ")");
    }
    const LinkProfile* l = catalog.FindLink(link);
    if (l == nullptr) {
      return Status::InvalidArgument("--cluster group \"" + shown + "\": unknown link '" + Printable(link, 64) +
                                     "' (known: " + Names(catalog.links()) + ")");
    }
    g.device = *d;
    g.link = *l;
    total += g.count;
    if (total > kMaxSpecDevices) {
      return Status::InvalidArgument("--cluster \"" + Printable(spec, 200) + "\" names more than " +
                                     std::to_string(kMaxSpecDevices) + " devices");
    }
    groups.push_back(std::move(g));
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return groups;
}

}  // namespace ps::plan
