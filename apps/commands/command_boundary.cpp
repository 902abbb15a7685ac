#include "apps/commands/command_boundary.h"

#include <filesystem>
#include <new>
#include <ostream>
#include <string>

#include <torch/torch.h>

#include "common/distributed.h"
#include "common/error.h"

namespace softrl::apps {

int guarded(const char* command, const std::function<int()>& body, std::ostream& err) {
  const std::string prefix = std::string("softrl ") + command + ": ";
  try {
    return body();
  } catch (const InputError& e) {
    err << prefix << e.what() << "\n";
    return kBadInput;
  } catch (const distributed::DistributedError& e) {
    err << prefix << e.what() << "\n";
    return kPeerLost;
  } catch (const DivergedError& e) {
    err << prefix << e.what() << "\n";
    return kDiverged;
  } catch (const IoError& e) {
    err << prefix << e.what() << "\n";
    return kIoFailure;
  } catch (const std::filesystem::filesystem_error& e) {
    err << prefix << e.what() << "\n";
    return kIoFailure;
  } catch (const std::bad_alloc&) {
    err << prefix << "out of memory\n";
    return kIoFailure;
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    const bool memory = what.find("alloc") != std::string::npos;
    err << prefix << (memory ? "out of memory: " : "internal error: ") << what.substr(0, what.find('\n')) << "\n";
    return memory ? kIoFailure : kInternal;
  } catch (const std::exception& e) {
    err << prefix << "internal error: " << e.what() << "\n";
    return kInternal;
  }
}

}  // namespace softrl::apps
