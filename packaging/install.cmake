# SPDX-License-Identifier: Apache-2.0
# install.cmake - the install step's generated files: kiln.pc and the
# systemd unit name the prefix actually installed to, which is known only at
# install time (`cmake --install build --prefix P`, `make install PREFIX=P`).
# Runs inside cmake_install.cmake; KILN_* come from install(CODE) in the top
# CMakeLists.txt. file(INSTALL) honours DESTDIR.

# kiln_abs(OUT DIR): DIR under the install prefix unless it is absolute
function(kiln_abs out dir)
	if(IS_ABSOLUTE "${dir}")
		set(${out} "${dir}" PARENT_SCOPE)
	else()
		set(${out} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
	endif()
endfunction()

# kiln_pc_dir(OUT DIR): DIR as kiln.pc says it, relative to ${prefix} if it can
function(kiln_pc_dir out dir)
	if(IS_ABSOLUTE "${dir}")
		set(${out} "${dir}" PARENT_SCOPE)
	else()
		set(${out} "\${prefix}/${dir}" PARENT_SCOPE)
	endif()
endfunction()

set(KILN_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
kiln_pc_dir(KILN_PC_LIBDIR "${KILN_LIBDIR}")
kiln_pc_dir(KILN_PC_INCLUDEDIR "${KILN_INCLUDEDIR}")
kiln_abs(kiln_pcdir "${KILN_LIBDIR}/pkgconfig")
kiln_abs(KILN_BINDIR_ABS "${KILN_BINDIR}")
kiln_abs(kiln_unitdir "${KILN_UNITDIR}")

file(MAKE_DIRECTORY "${KILN_GEN}")
configure_file("${KILN_SRC}/packaging/kiln.pc.in" "${KILN_GEN}/kiln.pc" @ONLY)
configure_file("${KILN_SRC}/packaging/kiln-server.service.in"
	"${KILN_GEN}/kiln-server.service" @ONLY)
file(INSTALL "${KILN_GEN}/kiln.pc" DESTINATION "${kiln_pcdir}")
file(INSTALL "${KILN_GEN}/kiln-server.service" DESTINATION "${kiln_unitdir}")
