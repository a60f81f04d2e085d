// sinter: the command-line entry point. Usage errors exit 2, bad input exits 1 with one line.
#include "tools/sinter/Commands.h"

#include <cstdio>
#include <new>

int main(int argc, char** argv) {
  using namespace sinter;
  CLI::App app{"sinter: a graph compiler for convolutional networks that speaks ONNX"};
  app.name("sinter");
  app.require_subcommand(1);
  app.footer("Run 'sinter COMMAND --help' for a command's options.\n"
             "Exit status: 0 success, 1 bad input (one 'error:' line), 2 usage error.");
  cli::Action dump = cli::addDump(app);
  cli::Action run = cli::addRun(app);
  cli::Action compile = cli::addCompile(app);
  cli::Action bench = cli::addBench(app);
  cli::Action exportCmd = cli::addExport(app);
  cli::Action conformance = cli::addConformance(app);
  cli::Action cache = cli::addCache(app);
  cli::Action train = cli::addTrain(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0)
      return app.exit(e);
    std::string what = e.what();
    fmt::print(stderr, "error: {}\nRun 'sinter --help' for usage.\n", what);
    return 2;
  }
  try {
    Error err;
    if (app.got_subcommand("dump"))
      err = dump();
    else if (app.got_subcommand("run"))
      err = run();
    else if (app.got_subcommand("compile"))
      err = compile();
    else if (app.got_subcommand("bench"))
      err = bench();
    else if (app.got_subcommand("export"))
      err = exportCmd();
    else if (app.got_subcommand("conformance"))
      err = conformance();
    else if (app.got_subcommand("cache"))
      err = cache();
    else if (app.got_subcommand("train"))
      err = train();
    if (err) {
      fmt::print(stderr, "error: {}\n", err.message());
      if (err.isUsage()) {
        fmt::print(stderr, "Run 'sinter --help' for usage.\n");
        return 2;
      }
      return 1;
    }
    std::fflush(stdout);
    return 0;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
