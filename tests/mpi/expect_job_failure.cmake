# Runs COMMAND (a ;-list) with a time limit and passes if the job FAILS in
# time with mpirun's report of the dead process; fails if it succeeds, hangs
# (time limit) or fails silently.
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE result OUTPUT_VARIABLE output
                ERROR_VARIABLE output TIMEOUT 120)
message("${output}")
if(result MATCHES "timeout" OR result MATCHES "Process terminated due to timeout")
  message(FATAL_ERROR "the job hung after a process died (killed after 120 s)")
endif()
if(result EQUAL 0)
  message(FATAL_ERROR "the job succeeded although a process died")
endif()
if(NOT output MATCHES "exited on signal|exited with non-zero status")
  message(FATAL_ERROR "the job failed (${result}) without saying that a process died")
endif()
message("the job stopped (${result}) after a process died, as it should")
