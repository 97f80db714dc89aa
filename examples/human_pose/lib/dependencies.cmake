# Extra dependencies of the human-pose support library, included by the root
# CMakeLists.txt with example_target = ceres_wiberg_human_pose.
# tome_model.cc reads the model of Tome et al. with HDF5's C++ library
# (Debian: libhdf5-dev, see scripts/install_dependencies.sh). The include
# directories are public so that tests can write small HDF5 files.
# (The project enables only CXX, so only the CXX component can be asked for.)
find_package(HDF5 REQUIRED COMPONENTS CXX)
target_include_directories(${example_target} SYSTEM PUBLIC ${HDF5_INCLUDE_DIRS})
target_compile_definitions(${example_target} PRIVATE ${HDF5_DEFINITIONS})
target_link_libraries(${example_target} PUBLIC ${HDF5_CXX_LIBRARIES} ${HDF5_LIBRARIES})
# pose_report.h builds its JSON with nlohmann-json.
target_link_libraries(${example_target} PUBLIC nlohmann_json::nlohmann_json)
