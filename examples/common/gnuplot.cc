#include "common/gnuplot.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "ceres_wiberg/file.h"

namespace examples {
namespace {

using ceres_wiberg::Status;
using ceres_wiberg::StatusCode;

// A shell single-quoted word.
std::string ShellQuote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::filesystem::path Directory(const std::string& directory) {
  return directory.empty() ? std::filesystem::path(".") : std::filesystem::path(directory);
}

}  // namespace

bool GnuplotOnPath() { return std::system("command -v gnuplot > /dev/null 2>&1") == 0; }

std::string GnuplotQuote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("''") : std::string(1, c);
  return quoted + "'";
}

Status WriteFigure(const std::string& directory, const std::string& name,
                   const GnuplotFigure& figure) {
  const std::filesystem::path dir = Directory(directory);
  for (const auto& [file, contents] : figure.data_files) {
    Status status = ceres_wiberg::WriteFileAtomically((dir / file).string(), contents);
    if (!status.ok()) return status;
  }
  // Run by hand the script writes <name>.png; RenderFigure defines `output`
  // as a temporary name instead.
  const std::string script = "set terminal pngcairo size " + std::to_string(figure.width) +
                             "," + std::to_string(figure.height) +
                             "\nif (!exists('output')) output = " + GnuplotQuote(name + ".png") +
                             "\nset output output\n" + figure.script;
  return ceres_wiberg::WriteFileAtomically((dir / (name + ".gp")).string(), script);
}

Status RenderFigure(const std::string& directory, const std::string& name) {
  const std::filesystem::path dir = Directory(directory);
  const std::string script = (dir / (name + ".gp")).string();
  if (!GnuplotOnPath()) {
    return Status(StatusCode::kInternalError,
                  "gnuplot is not on PATH: no " + name + ".png; `gnuplot " + name +
                      ".gp` in " + dir.string() + " draws it");
  }
  const std::string temporary = name + ".tmp.png";
  const std::string command = "cd " + ShellQuote(dir.string()) + " && gnuplot -e " +
                              ShellQuote("output=" + GnuplotQuote(temporary)) + " " +
                              ShellQuote(name + ".gp") + " > /dev/null";
  const std::string from = (dir / temporary).string();
  const std::string to = (dir / (name + ".png")).string();
  if (std::system(command.c_str()) != 0 || std::rename(from.c_str(), to.c_str()) != 0) {
    std::remove(from.c_str());
    return Status(StatusCode::kInternalError,
                  "gnuplot failed on " + script + " (its data files are beside it)");
  }
  return Status::Ok();
}

Status DrawFigure(const std::string& directory, const std::string& name,
                  const GnuplotFigure& figure) {
  Status status = WriteFigure(directory, name, figure);
  if (status.ok()) status = RenderFigure(directory, name);
  if (status.ok() && !figure.keep_sources) {
    const std::filesystem::path dir = Directory(directory);
    for (const auto& data_file : figure.data_files) {
      std::remove((dir / data_file.first).string().c_str());
    }
    std::remove((dir / (name + ".gp")).string().c_str());
  }
  return status;
}

}  // namespace examples
