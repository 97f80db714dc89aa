// The examples' one way to draw a figure with gnuplot: the data files and the
// script are written atomically (ceres_wiberg::WriteFileAtomically) into one
// directory; gnuplot runs there and writes the PNG through a temporary file
// renamed on success, so a reader never sees a half-written image.
//
//   examples::GnuplotFigure figure;
//   figure.data_files = {{"curve.dat", text}};
//   figure.script = "plot 'curve.dat' with lines\n";
//   ceres_wiberg::Status status = examples::DrawFigure("out", "curve", figure);
//   // out/curve.dat, out/curve.gp and out/curve.png; `gnuplot curve.gp` in
//   // out/ draws it again.
//
// Without gnuplot a program still writes the data and the script: check
// GnuplotOnPath() once, or read RenderFigure's status, which says so.

#ifndef CERES_WIBERG_EXAMPLES_COMMON_GNUPLOT_H_
#define CERES_WIBERG_EXAMPLES_COMMON_GNUPLOT_H_

#include <string>
#include <utility>
#include <vector>

#include "ceres_wiberg/status.h"

namespace examples {

struct GnuplotFigure {
  // (file name, contents) of the files the script reads, relative to the
  // figure's directory.
  std::vector<std::pair<std::string, std::string>> data_files;
  // The plot commands; the PNG terminal and output lines are prepended.
  std::string script;
  // The PNG's size in pixels.
  int width = 900;
  int height = 600;
  // DrawFigure: keep the data files and the script once the PNG is drawn.
  bool keep_sources = true;
};

// Whether a gnuplot executable is on PATH.
bool GnuplotOnPath();

// Writes the data files and <directory>/<name>.gp, each atomically. The
// script's first lines select the PNG terminal, so that `gnuplot <name>.gp`
// run in `directory` writes <name>.png. kInternalError naming the file when
// one cannot be written.
ceres_wiberg::Status WriteFigure(const std::string& directory, const std::string& name,
                                 const GnuplotFigure& figure);

// Runs gnuplot on <directory>/<name>.gp, as WriteFigure wrote it, in
// `directory`, and renames its output to <directory>/<name>.png on success.
// kInternalError when gnuplot is not on PATH or fails (the message says which
// and where the script is).
ceres_wiberg::Status RenderFigure(const std::string& directory, const std::string& name);

// WriteFigure, then RenderFigure; without `keep_sources`, removes the data
// files and the script once the PNG is drawn.
ceres_wiberg::Status DrawFigure(const std::string& directory, const std::string& name,
                                const GnuplotFigure& figure);

// A gnuplot single-quoted string: 'text' with every ' doubled.
std::string GnuplotQuote(const std::string& text);

}  // namespace examples

#endif  // CERES_WIBERG_EXAMPLES_COMMON_GNUPLOT_H_
